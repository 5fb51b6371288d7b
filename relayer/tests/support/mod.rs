//! Helpers shared by the integration tests.
pub mod market;
pub mod pg;
pub mod relayer_bin;
