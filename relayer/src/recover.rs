//! Signer recovery for usage reports with libsecp256k1 (the `secp256k1` crate) instead of
//! k256: the same address for every signature, several times faster (the intake's hottest
//! step).
//!
//! Semantics are those of the path it replaces, `UsageReport::recover_signer` (alloy
//! `Signature::from_raw` + `recover_address_from_prehash`, k256 backend) applied to a
//! [`ReportSignature`], i.e. to a signature that already passed the market's shape rules (65
//! bytes, v 27/28, 0 < r, s < n, low s): a [`ReportSignature`] cannot hold anything else, so
//! high-s, bad v or zero scalars never reach recovery. [`recover_raw`] applies those same
//! rules to untrusted bytes first (exactly `ReportSignature::from_slice`, same errors). A
//! signature whose `r` is not the x coordinate of a curve point fails with
//! [`ReportError::Unrecoverable`], as with k256.

use alloy_primitives::{keccak256, Address, B256};
use market_protocol::report::ReportError;
use market_protocol::{ReportSignature, SignedReport};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1};

/// The address whose key produced `sig` over the 32-byte `prehash` (an EIP-712 signing hash).
pub fn recover_address(prehash: &B256, sig: &ReportSignature) -> Result<Address, ReportError> {
    let bytes = sig.as_bytes();
    // v is 27 or 28 (ReportSignature's invariant): parity 0 or 1, as alloy's `normalize_v`.
    let recid = match bytes[64] {
        27 => RecoveryId::Zero,
        28 => RecoveryId::One,
        v => return Err(ReportError::BadV(v)),
    };
    // s is already low (ReportSignature's invariant), so alloy's `normalized_s` is a no-op.
    let sig =
        RecoverableSignature::from_compact(&bytes[..64], recid).map_err(|_| ReportError::Unrecoverable)?;
    let key = SECP256K1
        .recover_ecdsa(Message::from_digest(prehash.0), &sig)
        .map_err(|_| ReportError::Unrecoverable)?;
    let uncompressed = key.serialize_uncompressed();
    Ok(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
}

/// [`recover_address`] for untrusted bytes: first the market's signature rules (length, v
/// 27/28, r and s in range, low s), with `ReportSignature::from_slice`'s errors.
pub fn recover_raw(prehash: &B256, raw: &[u8]) -> Result<Address, ReportError> {
    recover_address(prehash, &ReportSignature::from_slice(raw)?)
}

/// The address that signed `report` (the drop-in for `SignedReport::signer`).
pub fn report_signer(report: &SignedReport) -> Result<Address, ReportError> {
    recover_address(&report.id().0, &report.signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::{local::PrivateKeySigner, SignerSync};
    use alloy_primitives::U256;
    use proptest::prelude::*;

    const N: U256 = U256::from_limbs([
        0xBFD2_5E8C_D036_4141,
        0xBAAE_DCE6_AF48_A03B,
        0xFFFF_FFFF_FFFF_FFFE,
        0xFFFF_FFFF_FFFF_FFFF,
    ]);

    fn key(n: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(n)).expect("valid test key")
    }

    fn sign(k: &PrivateKeySigner, hash: &B256) -> [u8; 65] {
        k.sign_hash_sync(hash).expect("sign").as_bytes()
    }

    /// The old path, verbatim: alloy + k256.
    fn alloy_recover(hash: &B256, raw: &[u8]) -> Result<Address, ReportError> {
        let sig = ReportSignature::from_slice(raw)?;
        let parsed =
            alloy::primitives::Signature::from_raw(sig.as_bytes()).map_err(|_| ReportError::Unrecoverable)?;
        parsed.recover_address_from_prehash(hash).map_err(|_| ReportError::Unrecoverable)
    }

    /// `(r, n - s, v ^ 1)`: the same signature, malleated to high s.
    fn malleate(sig: &[u8; 65]) -> [u8; 65] {
        let mut out = *sig;
        let s = U256::from_be_slice(&sig[32..64]);
        out[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
        out[64] = if sig[64] == 27 { 28 } else { 27 };
        out
    }

    #[test]
    fn vectors() {
        let k = key(7);
        let hash = keccak256(b"usage report");
        let good = sign(&k, &hash);

        // A valid signature: the signer, as with k256.
        assert_eq!(recover_raw(&hash, &good), Ok(k.address()));
        assert_eq!(alloy_recover(&hash, &good), Ok(k.address()));

        // High-s malleated: refused by both (the market's rule), not recovered to anyone.
        let high = malleate(&good);
        assert_eq!(recover_raw(&hash, &high), Err(ReportError::HighS));
        assert_eq!(alloy_recover(&hash, &high), Err(ReportError::HighS));

        // v out of range (0/1, 29, EIP-155 style).
        for v in [0u8, 1, 26, 29, 35, 36, 255] {
            let mut bad = good;
            bad[64] = v;
            assert_eq!(recover_raw(&hash, &bad), Err(ReportError::BadV(v)));
            assert_eq!(alloy_recover(&hash, &bad), Err(ReportError::BadV(v)));
        }

        // r = 0, s = 0, r = n, s = n.
        let mut r0 = good;
        r0[..32].fill(0);
        let mut s0 = good;
        s0[32..64].fill(0);
        let mut rn = good;
        rn[..32].copy_from_slice(&N.to_be_bytes::<32>());
        let mut sn = good;
        sn[32..64].copy_from_slice(&N.to_be_bytes::<32>());
        for bad in [r0, s0, rn, sn] {
            assert_eq!(recover_raw(&hash, &bad), Err(ReportError::ScalarOutOfRange));
            assert_eq!(alloy_recover(&hash, &bad), Err(ReportError::ScalarOutOfRange));
        }

        // Garbage: wrong lengths.
        for len in [0usize, 1, 64, 66, 130] {
            let junk = vec![0xA5u8; len];
            assert_eq!(recover_raw(&hash, &junk), Err(ReportError::SignatureLength(len)));
        }

        // r that is no point's x coordinate (x = 5 is not on secp256k1: 5^3 + 7 = 132 is
        // a non-residue mod p): unrecoverable for both.
        let mut off_curve = good;
        off_curve[..32].copy_from_slice(&U256::from(5).to_be_bytes::<32>());
        assert_eq!(alloy_recover(&hash, &off_curve), Err(ReportError::Unrecoverable));
        assert_eq!(recover_raw(&hash, &off_curve), Err(ReportError::Unrecoverable));

        // Another hash or a flipped parity: some other address, the same for both.
        let other = keccak256(b"another report");
        assert_eq!(recover_raw(&other, &good), alloy_recover(&other, &good));
        assert_ne!(recover_raw(&other, &good), Ok(k.address()));
        let mut flipped = good;
        flipped[64] ^= 27 ^ 28;
        assert_eq!(recover_raw(&hash, &flipped), alloy_recover(&hash, &flipped));
        assert_ne!(recover_raw(&hash, &flipped), Ok(k.address()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random keys and messages: both recoveries give the signer; for the malleated
        /// form both refuse with HighS; for arbitrary 65 bytes they agree exactly.
        #[test]
        fn agrees_with_alloy_k256(secret in any::<[u8; 32]>(), msg in any::<[u8; 32]>(), junk in any::<[u8; 65]>(), v in 25u8..31) {
            let hash = B256::from(msg);
            if let Ok(k) = PrivateKeySigner::from_bytes(&B256::from(secret)) {
                let sig = sign(&k, &hash);
                prop_assert_eq!(recover_raw(&hash, &sig), Ok(k.address()));
                prop_assert_eq!(alloy_recover(&hash, &sig), Ok(k.address()));
                let high = malleate(&sig);
                prop_assert_eq!(recover_raw(&hash, &high), alloy_recover(&hash, &high));
            }
            let mut junk = junk;
            junk[64] = v;
            prop_assert_eq!(recover_raw(&hash, &junk), alloy_recover(&hash, &junk));
        }
    }
}
