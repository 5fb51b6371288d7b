//! Prints this contract's Solidity interface (functions, errors and events):
//! `cargo run -p market --features export-abi`.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    market::print_from_args();
    println!("// errors\n{}", market::ERRORS_SOL);
    println!("// events\n{}", market::EVENTS_SOL);
}
