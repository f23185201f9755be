#!/usr/bin/env bash
# Envelope throughput and key-unwrap cost (criterion) next to OpenSSL's
# ChaCha20-Poly1305 on the same machine, in one run.
# Usage: bench/crypto.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(free -h | awk '/Mem:/{print $2}') RAM, $(uname -m), $(date -u +%Y-%m-%d)"
cargo bench -p palisade-crypto --bench envelope -- --warm-up-time 1 --measurement-time 4 "${1:-}" 2>&1 \
  | grep -E "^(envelope|unwrap|email)|time:|thrpt:" 
echo
echo "reference: openssl speed -evp chacha20-poly1305 (OpenSSL $(openssl version | awk '{print $2}'))"
openssl speed -seconds 2 -bytes 64 -evp chacha20-poly1305 2>/dev/null | tail -n 2
openssl speed -seconds 2 -bytes 1024 -evp chacha20-poly1305 2>/dev/null | tail -n 1
openssl speed -seconds 2 -bytes 16384 -evp chacha20-poly1305 2>/dev/null | tail -n 1
