#!/usr/bin/env bash
# The main job, end to end: build qcmdr, build the demo guest, start it, run a command in it
# over SSH, show its status, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --release
bash guest/build.sh >/dev/null

qcmdr() { target/release/qcmdr -c examples/conf.lua "$@"; }
# Never leave the demo VM behind, whatever fails below.
trap 'qcmdr stop demo >/dev/null 2>&1 || true' EXIT

run() { printf '\n$ qcmdr %s\n' "$*" >&2; qcmdr "$@"; }
run start demo
run ssh demo -- uname -a
run status
run stop demo
