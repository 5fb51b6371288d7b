//! EIP-712 domain separators and typed-data digests.
//!
//! The domain always binds the chain id and the verifying contract, so a signature made
//! for one deployment or one chain is worthless on another (replay protection).

use alloy_primitives::{keccak256, Address, B256, U256};

/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`
pub fn domain_type_hash() -> B256 {
    keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
}

/// The EIP-712 domain separator for `name`/`version` on `chain_id` at `verifying_contract`.
pub fn domain_separator(name: &[u8], version: &[u8], chain_id: u64, verifying_contract: Address) -> B256 {
    let mut buf = [0u8; 32 * 5];
    buf[0..32].copy_from_slice(domain_type_hash().as_slice());
    buf[32..64].copy_from_slice(keccak256(name).as_slice());
    buf[64..96].copy_from_slice(keccak256(version).as_slice());
    buf[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    buf[140..160].copy_from_slice(verifying_contract.as_slice());
    keccak256(buf)
}

/// `keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)`: the digest a wallet signs.
pub fn typed_data_digest(domain_separator: B256, struct_hash: B256) -> B256 {
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..66].copy_from_slice(struct_hash.as_slice());
    keccak256(buf)
}

/// Concatenates 32-byte words and hashes them: `keccak256(abi.encode(words...))` for
/// static types, which is how EIP-712 struct hashes are built.
pub fn hash_words(words: &[[u8; 32]]) -> B256 {
    let mut buf = alloc::vec::Vec::with_capacity(words.len() * 32);
    for w in words {
        buf.extend_from_slice(w);
    }
    keccak256(buf)
}

/// An address as a left-padded ABI word.
pub fn address_word(a: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    #[test]
    fn domain_type_hash_matches_the_standard() {
        assert_eq!(
            domain_type_hash(),
            b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f")
        );
    }

    /// The example of EIP-712 itself: "Ether Mail", version 1, chain 1, at 0xCcCC...CcCC.
    #[test]
    fn domain_separator_matches_the_eip712_example() {
        let sep =
            domain_separator(b"Ether Mail", b"1", 1, address!("CcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"));
        assert_eq!(sep, b256!("f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"));
        // and the example's final digest, from the EIP's reference implementation
        let mail_struct_hash = b256!("c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
        assert_eq!(
            typed_data_digest(sep, mail_struct_hash),
            b256!("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
        );
    }

    #[test]
    fn different_chain_or_contract_changes_the_domain() {
        let a = address!("0000000000000000000000000000000000000001");
        let b = address!("0000000000000000000000000000000000000002");
        let base = domain_separator(b"T", b"1", 412346, a);
        assert_ne!(base, domain_separator(b"T", b"1", 421614, a));
        assert_ne!(base, domain_separator(b"T", b"1", 412346, b));
        assert_ne!(base, domain_separator(b"T", b"2", 412346, a));
        let _ = hex::encode(base);
    }
}
