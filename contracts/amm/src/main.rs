//! Prints this contract's Solidity interface (functions, errors and events):
//! `cargo run -p amm --features export-abi`.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    amm::print_from_args();
    println!("// errors\n{}", amm_core::ERRORS_SOL);
    println!("// events\n{}", amm_core::EVENTS_SOL);
}
