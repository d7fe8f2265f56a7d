#!/usr/bin/env bash
# The whole test suite: installs the Go toolchains, bubblewrap, sigsum-go, Chromium,
# s3s-fs, Azurite and PostgreSQL the tests need, runs every
# crate's unit and integration tests, then the end-to-end demo (which fails on
# any unexpected verdict).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp() { echo "== [${SECONDS}s] $*"; }
# The tests compile while the set-up below downloads (apt, pip, npm): on a
# fresh machine that wait is minutes. Its output is shown if it fails.
build_log=$(mktemp)
cargo test --workspace --locked --no-run "$@" >"$build_log" 2>&1 &
build=$!
trap 'kill "$build" 2>/dev/null || true' EXIT
REPROLOG_TOOLCHAINS=$(scripts/toolchains.sh)
export REPROLOG_TOOLCHAINS
# Every rebuild runs in a bubblewrap sandbox.
REPROLOG_BWRAP=$(scripts/bubblewrap.sh)
export REPROLOG_BWRAP
# Witness interop tests run Debian's sigsum-witness.
REPROLOG_SIGSUM=$(scripts/sigsum.sh)
export REPROLOG_SIGSUM
# The web page's tests drive Debian's headless Chromium through ChromeDriver.
REPROLOG_CHROMEDRIVER=$(scripts/chromium.sh)
export REPROLOG_CHROMEDRIVER
# Object-storage publishing is tested against s3s-fs, built from crates.io once.
REPROLOG_S3S_FS=$(scripts/s3s-fs.sh)
export REPROLOG_S3S_FS
# ... and against Azurite, Microsoft's Azure Storage emulator, from npm once.
REPROLOG_AZURITE=$(scripts/azurite.sh)
export REPROLOG_AZURITE
# The archive differential test runs the extractors people unpack with.
REPROLOG_BSDTAR=$(scripts/extractors.sh)
export REPROLOG_BSDTAR
# The shared-database backend is tested against Debian's PostgreSQL, run as
# a dedicated user (it refuses root).
REPROLOG_TEST_POSTGRES=$(scripts/postgres.sh)
# ... and a streaming read replica of it, for readers that read there.
REPROLOG_TEST_POSTGRES_REPLICA=$(scripts/postgres.sh replica)
# ... and the CA of the primary's TLS certificate, for the TLS test.
REPROLOG_TEST_POSTGRES_CA=$(scripts/postgres.sh ca)
export REPROLOG_TEST_POSTGRES REPROLOG_TEST_POSTGRES_REPLICA REPROLOG_TEST_POSTGRES_CA
stamp "set-up done; waiting for the test build"
if ! wait "$build"; then
  cat "$build_log"
  exit 1
fi
rm -f "$build_log"
stamp "test build done"
cargo test --workspace --locked "$@"
stamp "workspace tests done"
# Again on PostgreSQL: only the server tests whose log runs on the backend
# the variable chooses (the PostgreSQL-only tests, and those of the web page,
# object stores and witnesses, which do not depend on it, ran above). Selected
# from the same --workspace build, so nothing is compiled again.
echo "== the server's backend-dependent tests again, on PostgreSQL"
REPROLOG_TEST_BACKEND=postgres cargo test --workspace --locked "$@" \
  --test bad_input --test http --test index --test limits --test listeners --test publish --test strangers
stamp "PostgreSQL pass done"
echo "== end-to-end: scripts/demo.sh (on the debug build above)"
REPROLOG_DEMO_PROFILE=debug scripts/demo.sh
stamp "demo done"
