//! Prints this contract's Solidity interface (functions, errors and events):
//! `cargo run -p enforcement --features export-abi`.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    enforcement::print_from_args();
    // `cargo stylus deploy` runs `... -- constructor` and reads the whole output as the
    // constructor's signature: the errors and events go only into the interface.
    if std::env::args().nth(1).as_deref() != Some("constructor") {
        println!("// errors\n{}", enforcement::ERRORS_SOL);
        println!("// events\n{}", enforcement::EVENTS_SOL);
    }
}
