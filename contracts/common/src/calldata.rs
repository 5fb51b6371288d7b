//! A small, strict ABI decoder and encoder for hand-written routers.
//!
//! The SDK's `#[public]` router decodes each function's arguments with alloy's generic
//! decoder, one monomorphised copy per parameter list (1-4 KB of wasm each). A contract
//! whose arguments are static words, `bytes` and `uint32[]` can route by hand with these
//! few functions instead and keep `#[public]` only to export its ABI (see the `amm` crate).
//!
//! Decoding is as strict as alloy's validating decoder for these types: every word must be
//! present, addresses and small integers must be zero-padded, booleans must be 0 or 1,
//! dynamic offsets and lengths must stay inside the calldata. Anything else is
//! [`Malformed`]; nothing here panics on any input.

use alloc::vec::Vec;
use alloy_primitives::{Address, U256};

/// Calldata that does not decode as the function's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The arguments of one call (after the selector).
#[derive(Clone, Copy)]
pub struct Args<'a>(pub &'a [u8]);

impl<'a> Args<'a> {
    /// The `i`-th head word.
    pub fn word(&self, i: usize) -> Result<&'a [u8; 32], Malformed> {
        let start = i.checked_mul(32).ok_or(Malformed)?;
        self.0
            .get(start..start.checked_add(32).ok_or(Malformed)?)
            .map(|w| w.try_into().expect("32 bytes"))
            .ok_or(Malformed)
    }

    pub fn u256(&self, i: usize) -> Result<U256, Malformed> {
        Ok(U256::from_be_bytes(*self.word(i)?))
    }

    /// An unsigned integer of at most 64 bits (`uint8` … `uint64`), range-checked.
    pub fn uint(&self, i: usize, bits: u32) -> Result<u64, Malformed> {
        small(self.word(i)?, bits)
    }

    pub fn address(&self, i: usize) -> Result<Address, Malformed> {
        let w = self.word(i)?;
        if w[..12].iter().any(|b| *b != 0) {
            return Err(Malformed);
        }
        Ok(Address::from_slice(&w[12..]))
    }

    pub fn boolean(&self, i: usize) -> Result<bool, Malformed> {
        Ok(small(self.word(i)?, 1)? == 1)
    }

    /// `bytes4` (left-aligned, zero-padded on the right).
    pub fn bytes4(&self, i: usize) -> Result<[u8; 4], Malformed> {
        let w = self.word(i)?;
        if w[4..].iter().any(|b| *b != 0) {
            return Err(Malformed);
        }
        Ok([w[0], w[1], w[2], w[3]])
    }

    /// The tail a dynamic parameter's head word points at: `(length, body)`, where the body
    /// holds at least `length * unit` bytes.
    fn tail(&self, i: usize, unit: usize) -> Result<(usize, &'a [u8]), Malformed> {
        let offset = small(self.word(i)?, 32)? as usize;
        let rest = self.0.get(offset..).ok_or(Malformed)?;
        let len = small(Args(rest).word(0)?, 32)? as usize;
        let body = &rest[32..];
        if len.checked_mul(unit).ok_or(Malformed)? > body.len() {
            return Err(Malformed);
        }
        Ok((len, body))
    }

    /// A `bytes` parameter (its padding is not inspected, as Solidity does not).
    pub fn bytes(&self, i: usize) -> Result<&'a [u8], Malformed> {
        let (len, body) = self.tail(i, 1)?;
        Ok(&body[..len])
    }

    /// A `uint32[]` parameter.
    pub fn u32_array(&self, i: usize) -> Result<Vec<u32>, Malformed> {
        let (len, body) = self.tail(i, 32)?;
        let words = Args(body);
        (0..len).map(|k| words.uint(k, 32).map(|v| v as u32)).collect()
    }
}

fn small(w: &[u8; 32], bits: u32) -> Result<u64, Malformed> {
    if w[..24].iter().any(|b| *b != 0) {
        return Err(Malformed);
    }
    let v = u64::from_be_bytes(w[24..].try_into().expect("8 bytes"));
    if bits < 64 && v >> bits != 0 {
        return Err(Malformed);
    }
    Ok(v)
}

/// A `uint256` as one ABI word.
pub fn word(v: U256) -> [u8; 32] {
    v.to_be_bytes()
}

/// A small unsigned integer or a `bool` (as 0 / 1) as one ABI word.
pub fn num(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// An address as one ABI word.
pub fn address_word(a: Address) -> [u8; 32] {
    a.into_word().0
}

/// Return data of static words.
pub fn encode(words: &[[u8; 32]]) -> Vec<u8> {
    words.concat()
}

/// Return data of dynamic `uint256[]` values, in order (`(uint256[], uint256[], ...)`).
pub fn encode_arrays(arrays: &[&[U256]]) -> Vec<u8> {
    let mut head = Vec::with_capacity(arrays.len() * 32);
    let mut tail = Vec::new();
    for a in arrays {
        head.extend_from_slice(&word(U256::from(arrays.len() * 32 + tail.len())));
        tail.extend_from_slice(&word(U256::from(a.len())));
        for v in a.iter() {
            tail.extend_from_slice(&v.to_be_bytes::<32>());
        }
    }
    head.extend_from_slice(&tail);
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloy_primitives::Bytes;
    use alloy_sol_types::{sol_data, SolType};
    use proptest::prelude::*;

    type Params = (
        sol_data::Address,
        sol_data::Uint<16>,
        sol_data::Bytes,
        sol_data::Array<sol_data::Uint<32>>,
        sol_data::Bool,
        sol_data::Uint<256>,
    );

    fn encoded(a: Address, f: u16, b: &[u8], xs: &[u32], flag: bool, n: U256) -> Vec<u8> {
        Params::abi_encode_params(&(a, f, Bytes::copy_from_slice(b), xs.to_vec(), flag, n))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever alloy encodes, this decoder reads back exactly.
        #[test]
        fn agrees_with_alloy(a in any::<[u8; 20]>(), f in any::<u16>(), b in proptest::collection::vec(any::<u8>(), 0..80),
                             xs in proptest::collection::vec(any::<u32>(), 0..6), flag in any::<bool>(), n in any::<[u8; 32]>()) {
            let (a, n) = (Address::from(a), U256::from_be_bytes(n));
            let data = encoded(a, f, &b, &xs, flag, n);
            let args = Args(&data);
            prop_assert_eq!(args.address(0).unwrap(), a);
            prop_assert_eq!(args.uint(1, 16).unwrap(), f as u64);
            prop_assert_eq!(args.bytes(2).unwrap(), &b[..]);
            prop_assert_eq!(args.u32_array(3).unwrap(), xs);
            prop_assert_eq!(args.boolean(4).unwrap(), flag);
            prop_assert_eq!(args.u256(5).unwrap(), n);
        }

        /// Arbitrary bytes never panic: each read is a value or `Malformed`.
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400), bits in 1u32..=64) {
            let args = Args(&data);
            for i in 0..14 {
                let _ = (args.address(i), args.uint(i, bits), args.bytes(i), args.u32_array(i), args.boolean(i), args.u256(i), args.bytes4(i));
            }
        }

        /// Corrupting a padding byte of a small value is refused, as alloy's validation does.
        #[test]
        fn dirty_padding_is_refused(i in 0usize..12, byte in 1u8..) {
            let mut data = encoded(Address::repeat_byte(7), 3, b"x", &[1], true, U256::from(1));
            data[i] = byte;
            prop_assert_eq!(Args(&data).address(0), Err(Malformed));
            let mut data = encoded(Address::repeat_byte(7), 3, b"x", &[1], true, U256::from(1));
            data[32 + i] = byte;
            prop_assert_eq!(Args(&data).uint(1, 16), Err(Malformed));
        }
    }

    #[test]
    fn out_of_range_values_and_offsets_are_refused() {
        let data = encoded(Address::ZERO, 300, b"abc", &[5, 6], false, U256::ZERO);
        assert_eq!(Args(&data).uint(1, 8), Err(Malformed), "300 is not a uint8");
        assert_eq!(Args(&data).uint(1, 16), Ok(300));
        let mut bad_bool = data.clone();
        bad_bool[4 * 32 + 31] = 2;
        assert_eq!(Args(&bad_bool).boolean(4), Err(Malformed));
        let mut far = data.clone();
        far[2 * 32 + 30] = 0xff; // bytes offset 0xff40: past the end
        assert_eq!(Args(&far).bytes(2), Err(Malformed));
        let mut long = data.clone();
        let off = 32 * 6 + 31; // the bytes tail's length word
        long[off] = 200;
        assert_eq!(Args(&long).bytes(2), Err(Malformed), "length past the end");
        assert_eq!(Args(&data[..100]).u256(5), Err(Malformed), "truncated");
        assert_eq!(Args(&[]).word(usize::MAX), Err(Malformed));
    }

    #[test]
    fn arrays_encode_as_alloy_does() {
        let a = vec![U256::from(1), U256::from(2)];
        let b = vec![U256::from(9)];
        type Two = (sol_data::Array<sol_data::Uint<256>>, sol_data::Array<sol_data::Uint<256>>);
        assert_eq!(encode_arrays(&[&a, &b]), Two::abi_encode_params(&(a.clone(), b.clone())));
        type One = (sol_data::Array<sol_data::Uint<256>>,);
        assert_eq!(encode_arrays(&[&a]), One::abi_encode_params(&(a,)));
        assert_eq!(encode_arrays(&[&[]]), One::abi_encode_params(&(Vec::<U256>::new(),)));
    }
}
