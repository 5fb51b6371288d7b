//! Strings of at most 31 bytes packed into one storage word, length in the last byte
//! (OpenZeppelin's `ShortString` layout).
//!
//! Token metadata is written once and read often. The SDK's `StorageString` indexes its
//! slots with a 256-bit division that alone costs ~9 KB of wasm; one word per string costs
//! one SLOAD and no division.

use alloc::string::String;
use alloy_primitives::B256;

/// Longest string that fits.
pub const MAX_LEN: usize = 31;

/// Packs `s`, or returns `None` if it is longer than [`MAX_LEN`] bytes.
pub fn pack(s: &str) -> Option<B256> {
    let bytes = s.as_bytes();
    if bytes.len() > MAX_LEN {
        return None;
    }
    let mut word = [0u8; 32];
    word[..bytes.len()].copy_from_slice(bytes);
    word[31] = bytes.len() as u8;
    Some(B256::from(word))
}

/// Unpacks a word written by [`pack`]. A word not written by `pack` (a corrupt length
/// or invalid UTF-8) reads as the empty string rather than panicking.
pub fn unpack(word: B256) -> String {
    let len = word[31] as usize;
    if len > MAX_LEN {
        return String::new();
    }
    match core::str::from_utf8(&word[..len]) {
        Ok(s) => String::from(s),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_up_to_31_bytes() {
        for s in ["", "H100s", "Compute-seconds H100-SXM5-80GB", "é√"] {
            assert_eq!(unpack(pack(s).unwrap()), s);
        }
        assert!(pack(&"x".repeat(31)).is_some());
        assert!(pack(&"x".repeat(32)).is_none());
    }

    #[test]
    fn garbage_words_read_as_empty() {
        let mut w = [0xffu8; 32];
        assert_eq!(unpack(B256::from(w)), "");
        w[31] = 2; // invalid UTF-8 in the first two bytes
        assert_eq!(unpack(B256::from(w)), "");
    }
}
