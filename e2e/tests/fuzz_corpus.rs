//! Every committed fuzz input, replayed through its target's check on every
//! `cargo test`: the seeds (fuzz/seeds/<target>: made by hand, and every input
//! that once found a bug) and what the fuzzers learned (fuzz/corpus/<target>,
//! minimised by `scripts/fuzz.sh --grow`) keep being checked without a
//! fuzzing toolchain. The checks are the fuzz targets' own (fuzz/checks/),
//! included as modules.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

macro_rules! targets {
    ($($name:ident = $check:literal),* $(,)?) => {
        $(
            #[path = $check]
            mod $name;

            #[test]
            fn $name() {
                replay(stringify!($name), $name::check);
            }
        )*

        /// Every target has a check here, and every check a corpus.
        #[test]
        fn every_fuzz_target_is_replayed() {
            let mut replayed = vec![$(stringify!($name)),*];
            replayed.sort_unstable();
            assert_eq!(replayed, fuzz_targets(), "fuzz/fuzz_targets and this list differ");
        }
    };
}

targets!(
    archive = "../../fuzz/checks/archive.rs",
    archive_python = "../../fuzz/checks/archive_python.rs",
    buildinfo = "../../fuzz/checks/buildinfo.rs",
    entry = "../../fuzz/checks/entry.rs",
    note_checkpoint = "../../fuzz/checks/note_checkpoint.rs",
    policy = "../../fuzz/checks/policy.rs",
    proofs = "../../fuzz/checks/proofs.rs",
    tile_path = "../../fuzz/checks/tile_path.rs",
    verdict = "../../fuzz/checks/verdict.rs",
    witness = "../../fuzz/checks/witness.rs",
);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The names of the files in fuzz/fuzz_targets, sorted.
fn fuzz_targets() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    names.sort_unstable();
    names
}

/// The files in fuzz/`kind`/`target`, sorted; none when it does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut inputs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    inputs.sort_unstable();
    inputs
}

/// Runs `check` on each seed and corpus input of `target`; fails naming every
/// input whose check panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}: no seeds");
    let inputs = [seeds, inputs("corpus", target)].concat();
    let failed: Vec<String> = inputs
        .iter()
        .filter(|input| {
            let data = std::fs::read(input).unwrap();
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|input| input.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs fail their check: {failed:?}",
        failed.len(),
        inputs.len()
    );
    eprintln!("{target}: {} inputs replayed", inputs.len());
}
