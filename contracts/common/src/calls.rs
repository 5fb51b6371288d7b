//! Low-level calls with word-encoded arguments.
//!
//! `sol_interface!` generates a full ABI encoder and decoder per method (~1 KB of wasm
//! each). The contracts call a handful of methods whose arguments are all static words
//! (addresses and amounts), so they build `selector ‖ words` here and read the one return
//! word they need, if any.

use alloc::vec::Vec;
use alloy_primitives::{Address, U256};
use stylus_sdk::{
    call::{call, static_call},
    prelude::*,
    stylus_core::calls::{errors::Error, MutatingCallContext},
};

/// `selector ‖ words`
pub fn calldata(selector: [u8; 4], words: &[[u8; 32]]) -> Vec<u8> {
    crate::revert::encode(selector, words)
}

/// A state-changing call. Returns the callee's return data, or its revert data.
pub fn call_words<H: Host + ?Sized>(
    host: &H,
    ctx: impl MutatingCallContext,
    target: Address,
    selector: [u8; 4],
    words: &[[u8; 32]],
) -> Result<Vec<u8>, Vec<u8>> {
    call(host, ctx, target, &calldata(selector, words)).map_err(revert_data)
}

/// A view call; returns the callee's return data, or its revert data.
pub fn static_call_words<H: Host + ?Sized>(
    host: &H,
    target: Address,
    selector: [u8; 4],
    words: &[[u8; 32]],
) -> Result<Vec<u8>, Vec<u8>> {
    static_call(host, Call::new(), target, &calldata(selector, words)).map_err(revert_data)
}

/// Word `index` of ABI-encoded static return data, or `None` if the data is too short.
pub fn word_at(data: &[u8], index: usize) -> Option<U256> {
    data.get(index * 32..index * 32 + 32).map(U256::from_be_slice)
}

/// A view call returning one `uint256` word.
pub fn static_call_u256<H: Host + ?Sized>(
    host: &H,
    target: Address,
    selector: [u8; 4],
    words: &[[u8; 32]],
) -> Result<U256, Vec<u8>> {
    let out = static_call_words(host, target, selector, words)?;
    word_at(&out, 0).ok_or_else(Vec::new)
}

/// ERC-20 style success: the call did not revert and returned nothing or an ABI `true`.
/// (Tokens that return no value are accepted only if `target` has code, checked by the
/// caller where it matters.)
pub fn returned_true(ret: &[u8]) -> bool {
    ret.is_empty() || (ret.len() >= 32 && U256::from_be_slice(&ret[..32]) == U256::from(1))
}

fn revert_data(e: Error) -> Vec<u8> {
    match e {
        Error::Revert(data) => data,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erc20_success_rules() {
        assert!(returned_true(&[]));
        assert!(returned_true(&U256::from(1).to_be_bytes::<32>()));
        assert!(!returned_true(&U256::ZERO.to_be_bytes::<32>()));
        assert!(!returned_true(&U256::from(2).to_be_bytes::<32>()));
        assert!(!returned_true(&[1]));
    }

    #[test]
    fn words_are_read_in_bounds_only() {
        let data = [U256::from(7).to_be_bytes::<32>(), U256::from(9).to_be_bytes::<32>()].concat();
        assert_eq!(word_at(&data, 0), Some(U256::from(7)));
        assert_eq!(word_at(&data, 1), Some(U256::from(9)));
        assert_eq!(word_at(&data, 2), None);
        assert_eq!(word_at(&data[..40], 1), None);
    }
}
