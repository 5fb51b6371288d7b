//! What a Stylus program looks like on chain, as pure functions: the deployed code
//! (`EF F0 00` + dictionary byte + brotli-11 wasm), the EVM init code that returns it
//! (cargo-stylus's prelude), and the StylusDeployer's constructor calldata.
//!
//! These match `cargo stylus deploy` 0.10.10 byte for byte, so a contract deployed here has
//! the same code hash as one deployed with cargo-stylus, and either tool recognises the
//! other's deployment as "already activated".

use std::io::Write;

use alloy::primitives::{keccak256, Bytes, B256, U256};

/// Brotli quality and window Arbitrum (and cargo-stylus) use for programs.
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

/// `EF F0 00`: the Stylus discriminant, then the dictionary byte (0: no dictionary).
pub const STYLUS_PREFIX: [u8; 4] = [0xEF, 0xF0, 0x00, 0x00];

/// Arbitrum's limit on a program's deployed code (EIP-170's 24 KiB).
pub const MAX_CODE_SIZE: usize = 24 * 1024;

/// Arbitrum's limit on a program's wasm after decompression (128 KiB).
pub const MAX_WASM_SIZE: usize = 128 * 1024;

/// Why a program cannot be activated on Arbitrum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("its deployed code is {size} bytes compressed, over Stylus's {MAX_CODE_SIZE}-byte limit")]
    Compressed { size: usize },
    #[error("its wasm is {size} bytes, over Stylus's {MAX_WASM_SIZE}-byte limit on decompressed programs")]
    Decompressed { size: usize },
}

/// Checks both size limits Arbitrum applies, before anything is sent.
pub fn check_limits(wasm: &[u8]) -> Result<(), LimitError> {
    if wasm.len() > MAX_WASM_SIZE {
        return Err(LimitError::Decompressed { size: wasm.len() });
    }
    // Counted as the size gate (`xtask sizes`) counts it: the 3-byte `EF F0 00` prefix plus
    // the compressed wasm.
    let size = program_code(wasm).len() - 1;
    if size > MAX_CODE_SIZE {
        return Err(LimitError::Compressed { size });
    }
    Ok(())
}

/// The code a Stylus program has on chain: prefix + brotli(wasm).
pub fn program_code(wasm: &[u8]) -> Vec<u8> {
    let mut code = STYLUS_PREFIX.to_vec();
    {
        let mut w = brotli::CompressorWriter::new(&mut code, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
        // Writing into a Vec cannot fail.
        w.write_all(wasm).expect("in-memory write");
    }
    code
}

/// The code hash a deployment of `wasm` has on chain (what `codehashVersion` is keyed by).
pub fn code_hash(wasm: &[u8]) -> B256 {
    keccak256(program_code(wasm))
}

/// EVM init code that returns `code` as the contract's runtime code, as cargo-stylus builds
/// it: `PUSH32 len, DUP1, PUSH1 43, PUSH1 0, CODECOPY, PUSH1 0, RETURN`, a version byte 0,
/// then the code (43 = the prelude's length).
pub fn deploy_initcode(code: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(43 + code.len());
    out.push(0x7f);
    out.extend(U256::from(code.len()).to_be_bytes::<32>());
    out.extend([0x80, 0x60, 43, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0x00]);
    out.extend_from_slice(code);
    out.into()
}

/// Calldata the StylusDeployer passes to a fresh program to run its constructor: the
/// selector of `stylus_constructor()` followed by the ABI-encoded constructor arguments.
pub fn constructor_calldata(encoded_args: &[u8]) -> Bytes {
    let mut out = keccak256("stylus_constructor()")[..4].to_vec();
    out.extend_from_slice(encoded_args);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_code_is_prefix_plus_brotli_of_the_wasm() {
        let wasm = b"\0asm\x01\0\0\0 some sections some sections".repeat(40);
        let code = program_code(&wasm);
        assert_eq!(&code[..4], &STYLUS_PREFIX);
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &code[4..], &mut back).unwrap();
        assert_eq!(back, wasm);
        assert!(code.len() < wasm.len(), "compressed");
        // Deterministic: the code hash identifies the wasm across runs and tools.
        assert_eq!(code_hash(&wasm), keccak256(program_code(&wasm)));
        assert_ne!(code_hash(&wasm), code_hash(&wasm[1..]));
    }

    #[test]
    fn limits_refuse_oversized_programs() {
        assert_eq!(check_limits(&[0u8; 1000]), Ok(()));
        let big = vec![0u8; MAX_WASM_SIZE + 1];
        assert_eq!(check_limits(&big), Err(LimitError::Decompressed { size: MAX_WASM_SIZE + 1 }));
        // Incompressible bytes: compressed size stays above 24 KiB.
        let mut x = 0x1234_5678u32;
        let noise: Vec<u8> = (0..30_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        assert!(matches!(check_limits(&noise), Err(LimitError::Compressed { .. })));
    }

    #[test]
    fn initcode_returns_exactly_the_code() {
        let code = [0xEF, 0xF0, 0x00, 0x00, 1, 2, 3];
        let init = deploy_initcode(&code);
        assert_eq!(init.len(), 43 + code.len());
        assert_eq!(init[0], 0x7f, "PUSH32");
        assert_eq!(U256::from_be_slice(&init[1..33]), U256::from(code.len()));
        // CODECOPY offset 43 is where the code starts.
        assert_eq!(init[35], 43);
        assert_eq!(&init[43..], &code);
    }

    #[test]
    fn constructor_calldata_starts_with_the_stylus_constructor_selector() {
        let data = constructor_calldata(&[0xaa; 32]);
        // keccak256("stylus_constructor()")[..4], as cargo-stylus sends it.
        assert_eq!(&data[..4], &keccak256("stylus_constructor()")[..4]);
        assert_eq!(&data[4..], &[0xaa; 32]);
    }
}
