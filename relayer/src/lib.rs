//! The relayer: verifies usage reports and their TEE evidence, keeps them in a durable queue
//! and settles them on chain in batches.
//!
//! - [`evidence`]: TDX / SEV-SNP / NVIDIA H100 / `none` verification and class policies;
//! - [`queue`]: the durable report queue (SQLite);
//! - [`directory`]: provider signing keys and evidence digests from the registry;
//! - [`recover`]: EIP-712 signer recovery with libsecp256k1;
//! - [`pipeline`]: the intake steps, each a function with its own error code;
//! - [`api`]: the HTTP API; [`metrics`]: Prometheus text.

pub mod api;
pub mod chain;
pub mod config;
pub mod directory;
pub mod evidence;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod recover;
pub mod settlement;
