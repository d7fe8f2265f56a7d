//! Inclusion and consistency proof verification against a real tree: a proof
//! that verifies is exactly the proof the tree produces; nothing panics.
//!
//! One input's check: libFuzzer calls it from `fuzz_targets/proofs.rs`, and the
//! corpus replay in `cargo test` (e2e/tests/fuzz_corpus.rs) calls it on every
//! committed input.

use reprolog_proto::merkle::{self, Appender};
use reprolog_proto::Hash;

/// Stored hashes of a tree whose leaves are the entries 0..size.
fn tree(size: u64) -> Vec<Hash> {
    let empty: Vec<Hash> = Vec::new();
    let mut app = Appender::new(&empty, 0);
    for i in 0..size {
        app.push(Hash::leaf(&i.to_be_bytes())).expect("append");
    }
    app.new_hashes().to_vec()
}

/// Panics when `data` breaks the property above.
pub fn check(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let size = u64::from(data[0] % 64) + 1;
    let a = u64::from(data[1]) % (size + 2);
    let b = u64::from(data[2]) % (size + 2);
    let proof: Vec<Hash> = data[3..]
        .chunks_exact(32)
        .filter_map(Hash::from_slice)
        .collect();
    let hashes = tree(size);
    let root = merkle::tree_hash(size, &hashes).expect("root");

    let leaf = Hash::leaf(&a.to_be_bytes());
    if merkle::verify_inclusion(a, size, &leaf, &proof, &root).is_ok() {
        let real = merkle::inclusion_proof(a, size, &hashes).expect("proof");
        assert_eq!(proof, real, "only the real inclusion proof verifies");
    }

    let (old, new) = (a.min(b).min(size), size);
    let old_root = merkle::tree_hash(old, &hashes).expect("old root");
    if merkle::verify_consistency(old, new, &old_root, &root, &proof).is_ok() {
        let real = merkle::consistency_proof(old, new, &hashes).expect("proof");
        assert_eq!(proof, real, "only the real consistency proof verifies");
    }
    // Sizes and roots taken from the input directly: errors, never panics.
    let _ = merkle::verify_consistency(a, b, &leaf, &root, &proof);
    let _ = merkle::verify_inclusion(b, a, &root, &proof, &leaf);
}
