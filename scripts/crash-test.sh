#!/usr/bin/env bash
# Crash test of the log: SIGKILL under concurrent load, restart, repeat; then
# check that no acknowledged entry was lost and every checkpoint is consistent.
#   scripts/crash-test.sh [CYCLES]   (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p reprolog-server --bin reprolog-server --example crash
target/release/examples/crash "${1:-50}"
