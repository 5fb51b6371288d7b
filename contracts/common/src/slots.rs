//! Raw storage words with Solidity's layout rules, through three out-of-line functions.
//!
//! The SDK's typed accessors (`StorageMap::getter(..).get()`, packed fields) inline the
//! slot arithmetic, byte swaps and packing into every use: a single nested-map read came
//! to ~2 KB of wasm in the AMM. Contracts that touch many storage locations compute slots
//! with [`mapping`] and go through [`load`] / [`store`] instead, each one copy.

use alloy_primitives::{B256, U256};
use stylus_sdk::prelude::*;

/// Slot of `mapping[key]` for a mapping at `base`: `keccak256(key . base)` (Solidity).
#[inline(never)]
pub fn mapping<H: Host + ?Sized>(host: &H, base: U256, key: [u8; 32]) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(&key);
    preimage[32..].copy_from_slice(&base.to_be_bytes::<32>());
    U256::from_be_bytes(host.native_keccak256(&preimage).0)
}

/// The word at `slot`.
#[inline(never)]
pub fn load<H: Host + ?Sized>(host: &H, slot: U256) -> U256 {
    U256::from_be_bytes(host.storage_load_bytes32(slot).0)
}

/// Writes the word at `slot` (through the host's storage cache, flushed when the call
/// returns successfully, as the SDK's own setters do).
#[inline(never)]
pub fn store<H: Host + ?Sized>(host: &H, slot: U256, value: U256) {
    // SAFETY: callers never hold an SDK storage handle to the same slot, so there is no
    // second cached view of this word that could go stale.
    unsafe { host.storage_cache_bytes32(slot, B256::from(value)) }
}

/// `bits` bits of `word` starting at bit `shift` (at most 64).
pub fn field(word: U256, shift: usize, bits: usize) -> u64 {
    let v = (word >> shift).as_limbs()[0];
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// `word` with `bits` bits at `shift` replaced by `value`.
pub fn with_field(word: U256, shift: usize, bits: usize, value: u64) -> U256 {
    let mask = ((U256::from(1) << bits) - U256::from(1)) << shift;
    (word & !mask) | ((U256::from(value) << shift) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let w = with_field(U256::MAX, 160, 16, 0x1234);
        assert_eq!(field(w, 160, 16), 0x1234);
        assert_eq!(field(w, 176, 8), 0xff);
        assert_eq!(field(w, 144, 16), 0xffff);
        let w = with_field(U256::ZERO, 192, 64, u64::MAX);
        assert_eq!(field(w, 192, 64), u64::MAX);
        assert_eq!(w >> 192, U256::from(u64::MAX));
        // bits above 255 are dropped
        assert_eq!(field(with_field(U256::ZERO, 200, 64, u64::MAX), 200, 64), (1u64 << 56) - 1);
    }
}
