//! Helpers shared by the integration tests.
pub mod market;
pub mod pg;
pub mod proxy;
pub mod relayer_bin;
