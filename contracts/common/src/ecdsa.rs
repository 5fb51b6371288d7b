//! ECDSA (secp256k1) signer recovery through the `ecrecover` precompile at address 0x01.
//!
//! The precompile itself accepts malleable signatures and returns nothing for bad ones;
//! [`recover`] adds the checks OpenZeppelin's `ECDSA.recover` makes: `v` in {27, 28},
//! `s` in the lower half of the curve order (EIP-2), and a non-zero result.

use alloy_primitives::{address, Address, B256, U256};
use stylus_sdk::{call::static_call, prelude::*};

/// The `ecrecover` precompile.
pub const ECRECOVER: Address = address!("0000000000000000000000000000000000000001");

/// secp256k1 order / 2: a signature with a larger `s` has a malleable twin and is refused.
pub const SECP256K1_HALF_ORDER: U256 =
    U256::from_limbs([0xdfe92f46681b20a0, 0x5d576e7357a4501d, 0xffffffffffffffff, 0x7fffffffffffffff]);

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `v` is not 27 or 28.
    InvalidV,
    /// `s` is in the upper half of the curve order (malleable).
    HighS,
    /// The precompile recovered no address (or failed).
    Unrecoverable,
}

/// The precompile's input: `digest ‖ v ‖ r ‖ s`, each a 32-byte word.
pub fn ecrecover_input(digest: B256, v: u8, r: B256, s: B256) -> [u8; 128] {
    let mut input = [0u8; 128];
    input[0..32].copy_from_slice(digest.as_slice());
    input[63] = v;
    input[64..96].copy_from_slice(r.as_slice());
    input[96..128].copy_from_slice(s.as_slice());
    input
}

/// Checks `v` and `s` before any call, so malformed signatures cost nothing to refuse.
pub fn check_signature_shape(v: u8, s: B256) -> Result<(), SignatureError> {
    if v != 27 && v != 28 {
        return Err(SignatureError::InvalidV);
    }
    if U256::from_be_bytes(s.0) > SECP256K1_HALF_ORDER {
        return Err(SignatureError::HighS);
    }
    Ok(())
}

/// Recovers the signer of `digest`, or says why the signature is unusable.
pub fn recover<H: Host + ?Sized>(
    host: &H,
    digest: B256,
    v: u8,
    r: B256,
    s: B256,
) -> Result<Address, SignatureError> {
    check_signature_shape(v, s)?;
    let input = ecrecover_input(digest, v, r, s);
    let out = static_call(host, Call::new(), ECRECOVER, &input).map_err(|_| SignatureError::Unrecoverable)?;
    if out.len() != 32 {
        return Err(SignatureError::Unrecoverable);
    }
    let signer = Address::from_slice(&out[12..32]);
    if signer.is_zero() {
        return Err(SignatureError::Unrecoverable);
    }
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::b256;

    #[test]
    fn half_order_constant_is_n_over_two() {
        let n =
            U256::from_be_bytes(b256!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").0);
        assert_eq!(SECP256K1_HALF_ORDER, n >> 1);
    }

    #[test]
    fn shape_checks_refuse_bad_v_and_high_s() {
        let low = B256::from(U256::from(1));
        assert_eq!(check_signature_shape(27, low), Ok(()));
        assert_eq!(check_signature_shape(28, low), Ok(()));
        assert_eq!(check_signature_shape(0, low), Err(SignatureError::InvalidV));
        assert_eq!(check_signature_shape(29, low), Err(SignatureError::InvalidV));
        let high = B256::from(SECP256K1_HALF_ORDER + U256::from(1));
        assert_eq!(check_signature_shape(27, high), Err(SignatureError::HighS));
        assert_eq!(check_signature_shape(27, B256::from(SECP256K1_HALF_ORDER)), Ok(()));
    }
}
