//! NVIDIA H100 confidential-computing attestation: an SPDM 1.1 GET_MEASUREMENTS request and
//! its signed response, plus the GPU's certificate chain up to NVIDIA's device identity root.
//!
//! There is no Rust crate for this, so the checks are written out here with p384 and
//! x509-cert: (1) the chain leaf -> ... -> root verifies with ECDSA P-384/SHA-384 and ends in
//! the pinned NVIDIA Device Identity CA, every certificate valid at `now`; (2) the leaf's key
//! signed SHA-384(request || response without its signature); (3) the requester nonce equals
//! the usage report's signing hash, which makes the evidence fresh and bound to that report.
//! Not done here: OCSP revocation and comparing measurements with NVIDIA's RIMs (both need
//! NVIDIA's online services).

use market_protocol::EvidenceIdentity;
use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::EvidenceError;

/// NVIDIA's device identity root CA (self-signed, P-384), the trust anchor of every H100's
/// certificate chain. Taken from nv-local-gpu-verifier 2.7.3 (`verifier/certs/`).
pub const NVIDIA_DEVICE_IDENTITY_ROOT_PEM: &str = include_str!("nvidia_device_identity_root.pem");

/// SPDM GET_MEASUREMENTS request: version, code, param1, param2, 32-byte nonce, slot id.
const REQUEST_LEN: usize = 37;
const SPDM_GET_MEASUREMENTS: u8 = 0xE0;
const SPDM_MEASUREMENTS: u8 = 0x60;
/// ECDSA P-384 signature as raw r || s.
const SIGNATURE_LEN: usize = 96;
/// Response header before the measurement record: 4 header bytes, block count, 3-byte length.
const RESPONSE_FIXED_LEN: usize = 8;
/// OID ecdsa-with-SHA384.
const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";

/// The SPDM exchange split into its parts (all slices into the input).
struct SpdmExchange<'a> {
    requester_nonce: &'a [u8],
    signed_part: &'a [u8],
    signature: &'a [u8],
}

fn parse_exchange(report: &[u8]) -> Result<SpdmExchange<'_>, EvidenceError> {
    let malformed = |what: &str| EvidenceError::Malformed(format!("H100 SPDM report: {what}"));
    if report.len() < REQUEST_LEN + RESPONSE_FIXED_LEN + 32 + 2 + SIGNATURE_LEN {
        return Err(malformed("too short"));
    }
    let (request, response) = report.split_at(REQUEST_LEN);
    if request[1] != SPDM_GET_MEASUREMENTS {
        return Err(malformed("request is not GET_MEASUREMENTS"));
    }
    if response[1] != SPDM_MEASUREMENTS || response[0] != request[0] {
        return Err(malformed("response is not MEASUREMENTS of the request's SPDM version"));
    }
    let record_len =
        usize::from(response[5]) | usize::from(response[6]) << 8 | usize::from(response[7]) << 16;
    let record_end = RESPONSE_FIXED_LEN + record_len;
    let opaque_len_at = record_end + 32;
    let opaque_len = response
        .get(opaque_len_at..opaque_len_at + 2)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        .ok_or_else(|| malformed("truncated before opaque data"))?;
    let sig_at = opaque_len_at + 2 + opaque_len;
    if response.len() != sig_at + SIGNATURE_LEN {
        return Err(malformed("lengths do not add up to a 96-byte signature at the end"));
    }
    Ok(SpdmExchange {
        requester_nonce: &request[4..36],
        signed_part: &report[..REQUEST_LEN + sig_at],
        signature: &response[sig_at..],
    })
}

/// Verifies an H100 attestation report (`request || response` bytes) with the GPU's
/// certificate chain (DER, leaf first) against `root_pem` at `now_secs`, and checks that the
/// requester nonce equals `expected_nonce` (`market_protocol::evidence::nvidia_nonce_for`).
pub fn verify_h100(
    report: &[u8],
    cert_chain_der: &[Vec<u8>],
    root_pem: &str,
    expected_nonce: &[u8; 32],
    now_secs: u64,
) -> Result<EvidenceIdentity, EvidenceError> {
    let exchange = parse_exchange(report)?;
    let chain = cert_chain_der
        .iter()
        .enumerate()
        .map(|(i, der)| {
            Certificate::from_der(der)
                .map_err(|e| EvidenceError::Malformed(format!("H100 certificate {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let root = Certificate::from_pem(root_pem.as_bytes())
        .map_err(|e| EvidenceError::Malformed(format!("pinned NVIDIA root: {e}")))?;
    verify_chain(&chain, &root, now_secs)?;
    let leaf = &chain[0];
    let leaf_key = verifying_key(leaf)?;
    let signature = Signature::from_slice(exchange.signature)
        .map_err(|e| EvidenceError::Invalid(format!("H100 report signature encoding: {e}")))?;
    leaf_key.verify(exchange.signed_part, &signature).map_err(|_| {
        EvidenceError::Invalid("H100 report is not signed by the GPU's leaf certificate".into())
    })?;
    if exchange.requester_nonce != expected_nonce {
        return Err(EvidenceError::Foreign(format!(
            "H100 SPDM nonce {} is not the report's signing hash {}",
            hex::encode(exchange.requester_nonce),
            hex::encode(expected_nonce)
        )));
    }
    // The identity hashes the leaf exactly as sent (DER is canonical, so this equals what the
    // node and the registry hash).
    Ok(EvidenceIdentity::from_nvidia_leaf_cert(&cert_chain_der[0]))
}

/// Each certificate must be signed by the next one; the last must be the pinned root itself
/// or be signed by it. Every certificate must be valid at `now_secs`.
fn verify_chain(chain: &[Certificate], root: &Certificate, now_secs: u64) -> Result<(), EvidenceError> {
    if chain.is_empty() {
        return Err(EvidenceError::Malformed("H100 certificate chain is empty".into()));
    }
    let root_der = root.to_der().map_err(|e| EvidenceError::Malformed(format!("root: {e}")))?;
    let mut issuers: Vec<&Certificate> = chain.iter().skip(1).collect();
    let last = &chain[chain.len() - 1];
    let last_is_root = last.to_der().map(|d| d == root_der).unwrap_or(false);
    if !last_is_root {
        issuers.push(root);
    }
    for (i, (cert, issuer)) in chain.iter().zip(issuers.iter()).enumerate() {
        check_validity(cert, now_secs, i)?;
        if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
            return Err(EvidenceError::Invalid(format!(
                "H100 certificate {i}: issuer does not match the next"
            )));
        }
        if !is_ca(issuer) {
            return Err(EvidenceError::Invalid(format!("H100 certificate {i}'s issuer is not a CA")));
        }
        verify_signed_by(cert, issuer).map_err(|e| {
            EvidenceError::Invalid(format!("H100 certificate {i} is not signed by its issuer: {e}"))
        })?;
    }
    if last_is_root {
        verify_signed_by(root, root)
            .map_err(|e| EvidenceError::Invalid(format!("pinned root is not self-signed: {e}")))?;
    }
    Ok(())
}

/// The issuer must say it is a CA (basicConstraints cA = true): a leaf device certificate
/// must not be able to certify another key.
fn is_ca(cert: &Certificate) -> bool {
    const BASIC_CONSTRAINTS: &str = "2.5.29.19";
    cert.tbs_certificate.extensions.iter().flatten().any(|ext| {
        ext.extn_id.to_string() == BASIC_CONSTRAINTS
            && BasicConstraints::from_der(ext.extn_value.as_bytes()).map(|bc| bc.ca).unwrap_or(false)
    })
}

fn check_validity(cert: &Certificate, now_secs: u64, index: usize) -> Result<(), EvidenceError> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if now_secs < not_before || now_secs > not_after {
        return Err(EvidenceError::Stale(format!("H100 certificate {index} is not valid at {now_secs}")));
    }
    Ok(())
}

fn verify_signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    if cert.signature_algorithm.oid.to_string() != ECDSA_WITH_SHA384 {
        return Err(format!("unexpected signature algorithm {}", cert.signature_algorithm.oid));
    }
    let key = verifying_key(issuer).map_err(|e| e.to_string())?;
    let tbs = cert.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let sig_bytes = cert.signature.as_bytes().ok_or("signature has unused bits")?;
    let sig = Signature::from_der(sig_bytes).map_err(|e| e.to_string())?;
    key.verify(&tbs, &sig).map_err(|_| "bad signature".to_string())
}

fn verifying_key(cert: &Certificate) -> Result<VerifyingKey, EvidenceError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| EvidenceError::Malformed("certificate key has unused bits".into()))?;
    VerifyingKey::from_sec1_bytes(bytes)
        .map_err(|e| EvidenceError::Malformed(format!("certificate key is not P-384: {e}")))
}
