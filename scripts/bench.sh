#!/usr/bin/env bash
# Issue #11 benchmarks: prints markdown tables and keeps the raw output in
# benches/results/<date>.md. Needs `npm ci --prefix scripts` (Uniswap V2 bytecode) and the
# wasm32 target; the contracts' release wasm is built by the deployer when not given.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ -d scripts/node_modules/@uniswap/v2-core/build ] || npm ci --prefix scripts
out="benches/results/$(date -u +%Y-%m-%d).md"
mkdir -p benches/results
{
  echo "# Benchmarks $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
  echo
  # Gas is deterministic, so the debug build (dependencies shared with the tests) is enough.
  cargo run -q -p benches -- gas ${BENCH_WASM_DIR:+--wasm-dir "$BENCH_WASM_DIR"}
  echo
  echo "## WASM sizes"
  echo
  cargo run -q -p xtask -- sizes --no-build
} | tee "$out"
echo "raw output: $out" >&2
