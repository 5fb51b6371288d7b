//! Chain access — the boundary only, not built yet.
//!
//! What goes here (issue 6, item 3): watch the market (`market_protocol::bindings::Market`,
//! `JobOpened` events filtered by this provider or `address(0)`), call `acceptJob` while the
//! node has free GPUs, fetch the job spec by its `jobSpecHash` from the relayer's spec store and
//! refuse a spec whose hash differs, then hand a [`crate::jobs::JobSpec`] to
//! [`crate::node::Node::submit`]. Until then jobs enter through the inbox directory
//! (`<data_dir>/inbox/*.toml`) or `provider-node exec`. It is left out on purpose while the
//! market's settlement ABI is in flux.
