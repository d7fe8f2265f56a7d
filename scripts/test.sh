#!/usr/bin/env bash
# The whole test suite: installs the Go toolchains the tests need, then runs every
# crate's unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
REPROLOG_TOOLCHAINS=$(scripts/toolchains.sh)
export REPROLOG_TOOLCHAINS
cargo test --workspace --locked "$@"
