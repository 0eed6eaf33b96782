#!/usr/bin/env bash
# The whole test suite: unit tests, and integration tests that boot the real guest under QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash guest/build.sh >/dev/null
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  echo "cargo-nextest not found (cargo install cargo-nextest); running cargo test" >&2
  cargo test --workspace --no-fail-fast -- --test-threads=2
fi
