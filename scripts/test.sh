#!/usr/bin/env bash
# The project's test command (README.md). Runs, in order:
#   1. formatting check,
#   2. the contract size gate (wasm32 release build, brotli-11, fails above 24 KiB),
#   3. every unit, property and integration test of the workspace; the devnet's tests
#      deploy the real contract wasm built by step 2 and drive it with alloy and Foundry's cast,
#   4. the ABI freshness check (abi/ regenerated from the contracts must equal what is committed),
#   5. the dApp's browser tests: the run command brings the whole system up (devnet, contracts,
#      relayer, provider node, dApp) and Playwright drives Debian's Chromium through it.
# One shared target directory: the wasm built once is reused by every test that deploys it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The devnet's interop tests drive Foundry's real `cast` (npm, installed by .ci/run).
if [ -z "${CAST:-}" ] && [ -x scripts/node_modules/.bin/cast ]; then
  export CAST="$PWD/scripts/node_modules/.bin/cast"
fi

start=$(date +%s)
step() { printf '\n==> [%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "contract size gate (builds the wasm the devnet tests deploy)"
cargo run --quiet --locked -p xtask -- sizes

step "cargo test --workspace"
cargo test --workspace --locked

step "abi/ freshness"
cargo run --quiet --locked -p xtask -- abi --check

step "dApp browser tests (Chromium, through the run command)"
# `cargo test --workspace` above already built these binaries into target/debug (a separate
# `cargo build -p ...` would resolve other features and compile the tree a second time).
for bin in devnet run relayer provider-node; do
  [ -x "${CARGO_TARGET_DIR:-target}/debug/$bin" ] || { echo "${CARGO_TARGET_DIR:-target}/debug/$bin missing: cargo build -p ${bin/run/deployer}" >&2; exit 1; }
done
npm test --prefix dapp

printf '\nall checks passed in %ss\n' "$(( $(date +%s) - start ))"
