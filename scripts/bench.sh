#!/usr/bin/env bash
# Issue #11 benchmarks: prints markdown tables and keeps the raw output in
# benches/results/<date>.md. Needs `npm ci --prefix scripts` (Uniswap V2 bytecode), gcc (the
# fake NVML library) and the wasm32 target.
#
#   gas      vault/market/settleBatch and AMM-vs-Uniswap gas      dev profile (gas is deterministic)
#   sizes    contract sizes (xtask)                               builds the release wasm once
#   relayer  verify/s, HTTP accepts/s, report-to-settlement       release (no LTO), see below
#   node     metering loop CPU share at 1 Hz / 10 Hz              release (no LTO)
#   devnet   transfers/s, Stylus calls/s (devnet/examples/bench)   release (no LTO)
#
# The CPU-bound parts run in the release profile with LTO off and 16 codegen units (as
# devnet/examples/bench.rs documents), in their own target directory (target/bench-release)
# so they neither rebuild nor lock the shared debug tree. Set BENCH_WASM_DIR to a folder of
# already built release contract wasm to skip the contract build (sizes then reads the wasm
# already in target/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ -d scripts/node_modules/@uniswap/v2-core/build ] || npm ci --prefix scripts
out="benches/results/$(date -u +%Y-%m-%d).md"
mkdir -p benches/results
release=(env CARGO_TARGET_DIR="$root/target/bench-release" CARGO_PROFILE_RELEASE_LTO=false
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo)
# Build everything first so that build output stays out of the tables.
if [ -z "${BENCH_WASM_DIR:-}" ]; then
  cargo run -q -p xtask -- sizes >/dev/null   # builds the contracts' release wasm
  BENCH_WASM_DIR="${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/release"
fi
cargo build -q -p benches
"${release[@]}" build -q --release -p benches
"${release[@]}" build -q --release -p devnet --example bench
{
  echo "# Benchmarks $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
  echo
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  cargo run -q -p benches -- gas --wasm-dir "$BENCH_WASM_DIR"
  echo
  echo "## WASM sizes"
  echo
  cargo run -q -p xtask -- sizes --no-build
  echo
  "${release[@]}" run -q --release -p benches -- relayer --wasm-dir "$BENCH_WASM_DIR"
  echo
  "${release[@]}" run -q --release -p benches -- node
  echo
  echo "## Devnet throughput (devnet/examples/bench.rs, release)"
  echo
  COMPUTE_TOKEN_WASM="$BENCH_WASM_DIR/compute_token.wasm" "${release[@]}" run -q --release -p devnet --example bench
} | tee "$out"
echo "raw output: $out" >&2
