//! Compact revert data for custom errors.
//!
//! The SDK's `#[derive(SolidityError)]` encodes each error through alloy's generic ABI
//! encoder, monomorphised per error type: ~400 bytes of wasm per error, ~10 KB for a
//! contract with two dozen errors. Every custom error in this project carries only static
//! ABI types (address, bytes32, uintN, bool), which encode as one 32-byte word each, so
//! [`encode`] writes `selector ‖ words` directly. Use it through [`contract_errors!`].
//!
//! [`contract_errors!`]: crate::contract_errors

use alloc::vec::Vec;
use alloy_primitives::{Address, FixedBytes, Uint};

/// A value that ABI-encodes as a single word.
pub trait ToWord {
    fn to_word(&self) -> [u8; 32];
}

impl ToWord for Address {
    fn to_word(&self) -> [u8; 32] {
        self.into_word().0
    }
}

impl ToWord for FixedBytes<32> {
    fn to_word(&self) -> [u8; 32] {
        self.0
    }
}

impl<const BITS: usize, const LIMBS: usize> ToWord for Uint<BITS, LIMBS> {
    fn to_word(&self) -> [u8; 32] {
        let mut w = [0u8; 32];
        let bytes = self.to_be_bytes_vec();
        w[32 - bytes.len()..].copy_from_slice(&bytes);
        w
    }
}

macro_rules! to_word_via_u64 {
    ($($t:ty),*) => {$(
        impl ToWord for $t {
            fn to_word(&self) -> [u8; 32] {
                let mut w = [0u8; 32];
                w[24..].copy_from_slice(&(*self as u64).to_be_bytes());
                w
            }
        }
    )*};
}
to_word_via_u64!(u8, u16, u32, u64, bool);

/// `selector ‖ words`: the ABI encoding of an error whose parameters are all static.
pub fn encode(selector: [u8; 4], words: &[[u8; 32]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 32 * words.len());
    out.extend_from_slice(&selector);
    for w in words {
        out.extend_from_slice(w);
    }
    out
}

/// Declares a contract's custom errors once. Generates:
/// * the `sol!` error types (with `Debug`/`PartialEq`, for tests and decoding),
/// * `ERRORS_SOL`, their Solidity declarations with parameter names, for the ABI,
/// * an enum with one variant per error plus `Bubbled(Vec<u8>)`, which re-raises a
///   callee's revert data unchanged (as Solidity does when an external call reverts),
/// * its compact conversion to revert data.
#[macro_export]
macro_rules! contract_errors {
    ($(#[$meta:meta])* $vis:vis enum $enum:ident {
        $( $(#[$vmeta:meta])* $name:ident ( $($ty:ident $field:ident),* ); )*
    }) => {
        alloy_sol_types::sol! {
            #![sol(all_derives)]
            $( error $name($($ty $field),*); )*
        }

        /// Solidity declarations of this contract's errors, for the generated ABI.
        pub const ERRORS_SOL: &str =
            concat!($( "error ", stringify!($name), "(", stringify!($($ty $field),*), ");\n" ),*);

        $(#[$meta])*
        #[derive(Debug, PartialEq)]
        $vis enum $enum {
            $( $(#[$vmeta])* $name($name), )*
            /// A callee's revert data, re-raised unchanged.
            Bubbled(alloc::vec::Vec<u8>),
        }

        impl From<$enum> for alloc::vec::Vec<u8> {
            fn from(e: $enum) -> alloc::vec::Vec<u8> {
                match e {
                    $( $enum::$name(_x) => $crate::revert::encode(
                        <$name as alloy_sol_types::SolError>::SELECTOR,
                        &[$( $crate::revert::ToWord::to_word(&_x.$field) ),*],
                    ), )*
                    $enum::Bubbled(data) => data,
                }
            }
        }

        #[cfg(feature = "export-abi")]
        impl stylus_sdk::abi::export::internal::InnerTypes for $enum {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, U256};
    use alloy_sol_types::{sol, SolError};

    sol! {
        error Wide(address a, bytes32 b, uint256 c, uint64 d, uint8 e, bool f);
    }

    #[test]
    fn compact_encoding_matches_alloy() {
        let e = Wide {
            a: address!("00000000000000000000000000000000000000aa"),
            b: b256!("00000000000000000000000000000000000000000000000000000000000000bb"),
            c: U256::MAX - U256::from(7),
            d: u64::MAX,
            e: 200,
            f: true,
        };
        let ours = encode(
            Wide::SELECTOR,
            &[e.a.to_word(), e.b.to_word(), e.c.to_word(), e.d.to_word(), e.e.to_word(), e.f.to_word()],
        );
        assert_eq!(ours, e.abi_encode());
        assert_eq!(encode(Wide::SELECTOR, &[]).len(), 4);
    }
}
