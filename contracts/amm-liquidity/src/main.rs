//! Prints this program's Solidity interface: `cargo run -p amm-liquidity --features export-abi`.
//! Integrators use `abi/IAmm.sol`, which merges it into the `amm` program's.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    amm_liquidity::print_from_args();
    println!("// errors\n{}", amm_core::ERRORS_SOL);
    println!("// events\n{}", amm_core::EVENTS_SOL);
}
