#!/usr/bin/env bash
# The one-command run: builds what is needed, starts the devnet, deploys, seeds a demo
# market, starts the services that exist, prints URLs, accounts and MetaMask settings.
# Ctrl-C stops everything. Options are passed on: `scripts/run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
# The dApp's packages (from its lockfile), once.
if [ ! -d dapp/node_modules ]; then
  npm ci --prefix dapp --no-audit --no-fund
fi
exec cargo run --quiet -p deployer --bin run -- "$@"
