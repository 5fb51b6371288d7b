//! Prints this contract's Solidity interface (functions, errors and events):
//! `cargo run -p settlement --features export-abi`.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    settlement::print_from_args();
    // `cargo stylus deploy` runs `... -- constructor` and reads the whole output as the
    // constructor's signature: the errors and events go only into the interface.
    if std::env::args().nth(1).as_deref() != Some("constructor") {
        println!("// errors\n{}", settlement::ERRORS_SOL);
        println!("// events\n{}", settlement::EVENTS_SOL);
        // Decoded by hand behind the fallback, so the SDK does not export it.
        println!("{}", settlement::calldata::SETTLE_BATCH_SOL);
    }
}
