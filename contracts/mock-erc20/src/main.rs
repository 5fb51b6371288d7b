//! Prints this contract's Solidity interface (functions, errors and events):
//! `cargo run -p mock-erc20 --features export-abi`.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    mock_erc20::print_from_args();
    // `cargo stylus deploy` reads the whole output of `-- constructor` as the constructor's
    // signature: the errors and events go only into the interface.
    if std::env::args().nth(1).as_deref() != Some("constructor") {
        println!("// errors\n{}", mock_erc20::ERRORS_SOL);
        println!("// events\n{}", mock_erc20::EVENTS_SOL);
    }
}
