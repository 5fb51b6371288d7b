//! `market-protocol`: the one off-chain definition of what a provider node signs and sends and
//! what a relayer verifies and settles. The provider node, the relayer and the end-to-end tests
//! all use this crate, so the three can never disagree on a hash, a digest or a JSON field.
//!
//! - [`report`]: the EIP-712 `UsageReport` exactly as the market verifies it (domain, signing
//!   hash, 65-byte low-s signatures, recovery), checked against `abi/vectors/usage-report.json`.
//! - [`evidence`]: the evidence envelope (TDX quote, SEV-SNP report, NVIDIA CC report, or
//!   `none` for the simulated meter), what its report_data/nonce commits to, and the
//!   `evidenceDigest` over the provider's stable hardware identity.
//! - [`wire`]: the versioned JSON a node POSTs to a relayer, with strict parsing and a stable
//!   report id (= the EIP-712 signing hash).
//! - [`bindings`]: alloy `sol!` bindings generated from the checked-in ABI JSON in `abi/`.

pub mod bindings;
pub mod evidence;
pub mod report;
pub mod wire;

pub use evidence::{evidence_digest, Evidence, EvidenceIdentity, EvidenceKind};
pub use report::{MarketDomain, ReportSignature, UsageReport};
pub use wire::{ReportId, SignedReport};
