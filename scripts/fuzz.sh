#!/usr/bin/env bash
# Fuzzes reprolog's parsers and verifiers with cargo-fuzz (libFuzzer + ASan).
#   scripts/fuzz.sh [--grow] [SECONDS] [TARGET...]   (default: 60 s for every target)
# Targets: buildinfo entry note_checkpoint policy tile_path proofs verdict archive
# archive_python (needs python3: the differential against tarfile and zipfile) witness.
# Starts from the committed inputs: fuzz/seeds/<target> (made by hand, and
# every input that once found a bug, under a name that says which) and
# fuzz/corpus/<target> (what earlier runs learned, minimised). What this run
# learns goes to a scratch corpus. A crash stops the run and leaves its input
# in fuzz/artifacts/<target>/: fix the bug, then keep the input in seeds/.
# --grow: afterwards, minimise fuzz/corpus/<target> together with what the
# run learned (cargo fuzz cmin keeps the smallest inputs that still reach
# every edge), for committing. `cargo test` replays seeds and corpus through
# the same checks (e2e/tests/fuzz_corpus.rs), so what the fuzzers learned is
# checked on every test run, without a fuzzing toolchain.
# Runs on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's
# -Z sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
grow=
if [ "${1:-}" = --grow ]; then grow=1; shift; fi
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(buildinfo entry note_checkpoint policy tile_path proofs verdict archive archive_python witness)

cargo_fuzz=.cache/cargo-fuzz/bin/cargo-fuzz
if [ ! -x "$cargo_fuzz" ]; then
    echo "== installing cargo-fuzz into .cache/cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz --version 0.13.2 --root .cache/cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

echo "== building fuzz targets"
(cd fuzz && "../$cargo_fuzz" build)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
summary=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${secs}s"
    mkdir -p "$scratch/$t" "fuzz/corpus/$t"
    log="$scratch/$t.log"
    if ! (cd fuzz && "../$cargo_fuzz" run "$t" "$scratch/$t" "seeds/$t" "corpus/$t" -- \
            -max_total_time="$secs" -max_len=65536 -print_final_stats=1) > "$log" 2>&1; then
        tail -40 "$log"
        echo "FAIL: $t found a crash; input saved under fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    corpus=$(ls "$scratch/$t" | wc -l)
    if [ -n "$grow" ]; then
        cp -n "$scratch/$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
        (cd fuzz && "../$cargo_fuzz" cmin "$t" "corpus/$t" -- -max_len=65536) >"$log.cmin" 2>&1 \
            || { tail -20 "$log.cmin"; exit 1; }
    fi
    summary+=("$(printf '%-16s %10s runs  %6s edges covered  %5s corpus inputs' "$t" "$runs" "$cov" "$corpus")")
done
echo "== fuzz summary (${secs}s per target, no crashes)"
printf '%s\n' "${summary[@]}"
