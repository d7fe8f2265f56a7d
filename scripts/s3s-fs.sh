#!/usr/bin/env bash
# Makes an S3-compatible server available for the object-storage tests and
# prints its path: `s3s-fs`, a Rust S3 server that keeps objects as files,
# built from crates.io (pinned, with its lockfile) into the git-ignored
# .cache/s3s-fs/ and reused when present.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.cache/s3s-fs/bin/s3s-fs
if [ ! -x "$bin" ]; then
  echo "building s3s-fs 0.14.1 into .cache/s3s-fs (cargo install; a few minutes, once)" >&2
  cargo install --locked --quiet --root "$PWD/.cache/s3s-fs" s3s-fs --version 0.14.1 --features binary >&2
fi
echo "$bin"
