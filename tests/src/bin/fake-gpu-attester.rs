//! The fake GPU's attestation engine for the fake `libnvidia-ml.so.1`
//! (`provider-node/tests/fake-nvml/fake_nvml.c`, through `FAKE_NVML_CC_SIGNER`): it answers
//! an SPDM 1.1 GET_MEASUREMENTS for the driver's nonce, signed with ECDSA P-384 by the fake
//! GPU's device key, whose certificate chains to a test CA (`fixtures/fake-gpu-cc/`, test
//! keys only). The relayer verifies it exactly as it verifies an H100's report, with that CA
//! pinned instead of NVIDIA's.
//!
//! `fake-gpu-attester report <nonce: 64 hex digits>` prints `request || response` as hex;
//! `fake-gpu-attester chain` prints the PEM chain, leaf first.

use p384::ecdsa::{signature::Signer, Signature, SigningKey};

const LEAF_PEM: &str = include_str!("../../fixtures/fake-gpu-cc/leaf.pem");
const ROOT_PEM: &str = include_str!("../../fixtures/fake-gpu-cc/root.pem");
const LEAF_KEY_HEX: &str = include_str!("../../fixtures/fake-gpu-cc/leaf.key.hex");

fn unhex(s: &str) -> Vec<u8> {
    alloy::primitives::hex::decode(s.trim()).unwrap_or_else(|e| fail(&format!("not hex: {e}")))
}

fn fail(msg: &str) -> ! {
    eprintln!("fake-gpu-attester: {msg}");
    std::process::exit(2)
}

/// SPDM 1.1: GET_MEASUREMENTS (signature requested, all measurements) and the MEASUREMENTS
/// response with one measurement block, the responder nonce, no opaque data and the
/// signature over `request || response-before-signature`.
fn exchange(nonce: &[u8; 32]) -> Vec<u8> {
    const VERSION: u8 = 0x11;
    let mut out = vec![VERSION, 0xE0, 0x01, 0xFF];
    out.extend_from_slice(nonce);
    out.push(0); // slot 0
                 // One DMTF measurement block: index 1, spec DMTF, a 48-byte digest.
    let digest = [0x5a; 48];
    let mut record = vec![1u8, 0x01];
    record.extend_from_slice(&(3u16 + 48).to_le_bytes());
    record.push(0x00); // DMTF type: immutable ROM, digest
    record.extend_from_slice(&48u16.to_le_bytes());
    record.extend_from_slice(&digest);
    let len = record.len() as u32;
    out.extend_from_slice(&[VERSION, 0x60, 0x00, 0x00, 1]);
    out.extend_from_slice(&len.to_le_bytes()[..3]);
    out.extend_from_slice(&record);
    let mut responder_nonce = [0u8; 32];
    for (i, b) in responder_nonce.iter_mut().enumerate() {
        *b = nonce[i] ^ 0xa5;
    }
    out.extend_from_slice(&responder_nonce);
    out.extend_from_slice(&0u16.to_le_bytes()); // opaque length
    let key =
        SigningKey::from_slice(&unhex(LEAF_KEY_HEX)).unwrap_or_else(|e| fail(&format!("leaf key: {e}")));
    let signature: Signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["report", nonce] => {
            let nonce: [u8; 32] =
                unhex(nonce).try_into().unwrap_or_else(|_| fail("the nonce must be 32 bytes"));
            println!("{}", alloy::primitives::hex::encode(exchange(&nonce)));
        }
        ["chain"] => print!("{}{}", LEAF_PEM, ROOT_PEM),
        _ => fail("usage: fake-gpu-attester report <64 hex digits> | chain"),
    }
}
