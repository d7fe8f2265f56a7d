use super::*;
use rs_merkle::{Hasher, MerkleTree};

/// rs_merkle configured for RFC 6962 interior hashing; leaves are passed in
/// already hashed with the 0x00 prefix.
#[derive(Clone)]
struct Rfc6962;

impl Hasher for Rfc6962 {
    type Hash = [u8; 32];
    fn hash(data: &[u8]) -> [u8; 32] {
        Hash::of(data).0
    }
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => Hash::node(&Hash(*left), &Hash(*r)).0,
            None => *left,
        }
    }
}

fn leaf_data(i: u64) -> Vec<u8> {
    format!("record {i}").into_bytes()
}

/// Stored hashes of a tree of `size` records built with [`Appender`].
fn build(size: u64) -> Vec<Hash> {
    let mut stored: Vec<Hash> = Vec::new();
    for i in 0..size {
        let mut app = Appender::new(&stored, i);
        app.push(Hash::leaf(&leaf_data(i))).unwrap();
        let new = app.new_hashes().to_vec();
        assert_eq!(app.first_new_index(), stored.len() as u64);
        stored.extend(new);
    }
    assert_eq!(stored.len() as u64, stored_hash_count(size));
    stored
}

#[test]
fn stored_hash_index_round_trips() {
    for index in 0..5000 {
        let (level, n) = split_stored_hash_index(index);
        assert_eq!(stored_hash_index(level, n), index, "index {index}");
    }
    assert_eq!(stored_hash_count(1), 1);
    assert_eq!(stored_hash_count(2), 3);
    assert_eq!(stored_hash_count(3), 4);
    assert_eq!(stored_hash_count(4), 7);
}

#[test]
fn batch_append_equals_one_by_one() {
    let one_by_one = build(300);
    let mut stored = build(100);
    let mut app = Appender::new(&stored, 100);
    for i in 100..300 {
        assert_eq!(app.push(Hash::leaf(&leaf_data(i))).unwrap(), i);
    }
    let new = app.new_hashes().to_vec();
    stored.extend(new);
    assert_eq!(stored, one_by_one);
}

#[test]
fn roots_and_inclusion_paths_match_rs_merkle() {
    let stored = build(300);
    let leaves: Vec<[u8; 32]> = (0..300).map(|i| Hash::leaf(&leaf_data(i)).0).collect();
    for size in 1..=300u64 {
        let oracle = MerkleTree::<Rfc6962>::from_leaves(&leaves[..size as usize]);
        let root = tree_hash(size, &stored).unwrap();
        assert_eq!(Some(root.0), oracle.root(), "root of size {size}");
        for index in 0..size {
            let ours = inclusion_proof(index, size, &stored).unwrap();
            let theirs = oracle.proof(&[index as usize]).proof_hashes().to_vec();
            let ours_raw: Vec<[u8; 32]> = ours.iter().map(|h| h.0).collect();
            assert_eq!(ours_raw, theirs, "path of {index} in {size}");
            verify_inclusion(index, size, &Hash(leaves[index as usize]), &ours, &root).unwrap();
        }
    }
}

#[test]
fn rfc6962_test_vector_roots() {
    // The eight leaves of the certificate-transparency reference test vectors and
    // the expected MTH of each prefix.
    let leaves = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut stored: Vec<Hash> = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let data = hex::decode(leaf).unwrap();
        let mut app = Appender::new(&stored, i as u64);
        app.push(Hash::leaf(&data)).unwrap();
        let new = app.new_hashes().to_vec();
        stored.extend(new);
        let root = tree_hash(i as u64 + 1, &stored).unwrap();
        assert_eq!(root.to_hex(), roots[i], "MTH of the first {} leaves", i + 1);
    }
    assert_eq!(tree_hash(0, &stored).unwrap(), Hash::empty_tree());
}

fn flip_bit(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn consistency_proofs_verify_and_tampering_is_rejected() {
    const N: u64 = 130;
    let stored = build(N);
    let roots: Vec<Hash> = (0..=N).map(|n| tree_hash(n, &stored).unwrap()).collect();
    let junk = Hash::of(b"junk");
    for new in 1..=N {
        for old in 1..=new {
            let proof = consistency_proof(old, new, &stored).unwrap();
            let (r_old, r_new) = (&roots[old as usize], &roots[new as usize]);
            verify_consistency(old, new, r_old, r_new, &proof)
                .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));

            for (i, h) in proof.iter().enumerate() {
                let mut bad = proof.clone();
                bad[i] = flip_bit(h, (i * 37 + old as usize) % 256);
                assert!(verify_consistency(old, new, r_old, r_new, &bad).is_err());
            }
            let mut longer = proof.clone();
            longer.push(junk);
            assert!(verify_consistency(old, new, r_old, r_new, &longer).is_err());
            if !proof.is_empty() {
                let shorter = &proof[..proof.len() - 1];
                assert!(verify_consistency(old, new, r_old, r_new, shorter).is_err());
            }
            if old < new {
                // The same proof presented for neighbouring sizes (with those sizes'
                // true roots) must not verify.
                let r_old_next = &roots[old as usize + 1];
                let r_new_prev = &roots[new as usize - 1];
                assert!(verify_consistency(old + 1, new, r_old_next, r_new, &proof).is_err());
                assert!(verify_consistency(old, new - 1, r_old, r_new_prev, &proof).is_err());
                assert!(verify_consistency(new, old, r_new, r_old, &proof).is_err());
                assert!(verify_consistency(old, new, &flip_bit(r_old, 3), r_new, &proof).is_err());
                assert!(verify_consistency(old, new, r_old, &flip_bit(r_new, 3), &proof).is_err());
            }
            if new < N {
                let r_next = &roots[new as usize + 1];
                assert!(verify_consistency(old, new + 1, r_old, r_next, &proof).is_err());
            }
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let stored = build(8);
    let r8 = tree_hash(8, &stored).unwrap();
    let r5 = tree_hash(5, &stored).unwrap();
    let empty = Hash::empty_tree();
    assert_eq!(consistency_proof(0, 8, &stored).unwrap(), vec![]);
    verify_consistency(0, 8, &empty, &r8, &[]).unwrap();
    verify_consistency(0, 0, &empty, &empty, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 8, &empty, &r8, &[r5]),
        Err(MerkleError::WrongProofLength)
    );
    verify_consistency(8, 8, &r8, &r8, &[]).unwrap();
    assert_eq!(
        verify_consistency(8, 8, &r8, &r5, &[]),
        Err(MerkleError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(8, 8, &r8, &r8, &[r5]),
        Err(MerkleError::WrongProofLength)
    );
    assert_eq!(
        verify_consistency(5, 8, &r5, &r8, &[]),
        Err(MerkleError::WrongProofLength)
    );
    assert_eq!(
        consistency_proof(9, 8, &stored),
        Err(MerkleError::OldAfterNew { old: 9, new: 8 })
    );
}

#[test]
fn inclusion_tampering_is_rejected() {
    let stored = build(70);
    for size in 1..=70u64 {
        let root = tree_hash(size, &stored).unwrap();
        for index in 0..size {
            let leaf = Hash::leaf(&leaf_data(index));
            let proof = inclusion_proof(index, size, &stored).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip_bit(&bad[i], i % 256);
                assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert_eq!(
                verify_inclusion(index, size, &leaf, &longer, &root),
                Err(MerkleError::WrongProofLength)
            );
            if !proof.is_empty() {
                assert!(verify_inclusion(index, size, &leaf, &proof[1..], &root).is_err());
            }
            if size < 70 {
                let next_root = tree_hash(size + 1, &stored).unwrap();
                assert!(verify_inclusion(index, size + 1, &leaf, &proof, &next_root).is_err());
            }
            assert!(verify_inclusion(size, size, &leaf, &proof, &root).is_err());
            let other = Hash::leaf(b"other");
            assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
        }
    }
    assert_eq!(
        inclusion_proof(70, 70, &stored),
        Err(MerkleError::IndexOutOfRange {
            index: 70,
            size: 70
        })
    );
    assert!(verify_inclusion(0, 0, &Hash::leaf(b""), &[], &Hash::empty_tree()).is_err());
}

#[test]
fn missing_storage_is_an_error_not_a_panic() {
    let stored = build(10);
    assert!(matches!(
        tree_hash(20, &stored),
        Err(MerkleError::Storage(_))
    ));
    assert!(matches!(
        inclusion_proof(3, 40, &stored),
        Err(MerkleError::Storage(_))
    ));
}

#[test]
fn compact_range_roots_equal_tree_hash() {
    let stored = build(300);
    let mut range = CompactRange::default();
    assert_eq!(range.root(), Hash::empty_tree());
    for i in 0..300u64 {
        range.push(Hash::leaf(&leaf_data(i)));
        assert_eq!(
            range.root(),
            tree_hash(i + 1, &stored).unwrap(),
            "size {}",
            i + 1
        );
    }
    let again = CompactRange::from_parts(range.size(), range.roots().to_vec()).unwrap();
    assert_eq!(again, range);
    assert!(CompactRange::from_parts(5, vec![]).is_none());
}
