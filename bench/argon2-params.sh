#!/usr/bin/env bash
# OWASP's equivalent Argon2id settings side by side on this machine: single
# verify time and the throughput of N verifies at once (N = cores), in one
# run (bench/authload/src/bin/argon2params.rs). Builds it in release mode.
# Set CARGO_TARGET_DIR to build elsewhere than ./target.
# Usage: bench/argon2-params.sh [--rounds 5] [--iters 12] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
l2=$(cat /sys/devices/system/cpu/cpu0/cache/index2/size 2>/dev/null || echo "?")
echo "machine: $(nproc) cores ($cpu, L2 $l2 per core), $(free -h | awk '/Mem:/{print $2}') RAM, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
(cd bench/authload && cargo build --release --quiet --bin argon2params)
"$target/release/argon2params" --threads "$(nproc)" "$@"
