use super::proof::{MapProof, ProofEnd, ProofError};
use super::revision::Revision;
use super::trie::{IndexError, Map};
use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// The map root by definition, bit by bit, independent of the trie: the
/// keys below a node, scanned from bit `from` for the first bit that splits
/// them (the trie finds it with `first_difference` instead).
fn oracle(entries: &[(Key, Hash)], from: u16) -> Hash {
    match entries {
        [] => empty_root(),
        [(key, value)] => leaf_hash(key, value),
        _ => {
            for b in from..256 {
                let depth = b as u8;
                let (zeros, ones): (Vec<_>, Vec<_>) =
                    entries.iter().partition(|(k, _)| !bit(k, depth));
                if !zeros.is_empty() && !ones.is_empty() {
                    return inner_hash(
                        depth,
                        &prefix(&entries[0].0, depth),
                        &oracle(&zeros, b + 1),
                        &oracle(&ones, b + 1),
                    );
                }
            }
            panic!("duplicate keys")
        }
    }
}

fn oracle_root(lists: &BTreeMap<Key, Vec<u64>>) -> Hash {
    let entries: Vec<(Key, Hash)> = lists
        .iter()
        .map(|(k, v)| (*k, value_hash(v).unwrap()))
        .collect();
    oracle(&entries, 0)
}

/// Keys that share long prefixes, so that compression is exercised.
fn key_strategy() -> impl Strategy<Value = Key> {
    (any::<u8>(), 0u8..=255, any::<bool>()).prop_map(|(seed, flip, near)| {
        let mut k = if near {
            [0xAB; 32]
        } else {
            Hash::of(&[seed]).0
        };
        k[usize::from(flip / 8)] ^= 0x80 >> (flip % 8);
        k
    })
}

/// A map built by appending `(key, index)` in log order: index i goes to
/// the key at position i.
fn map_of(keys: &[Key]) -> (Map, BTreeMap<Key, Vec<u64>>) {
    let mut map = Map::new();
    let mut lists: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        map.append(key, i as u64).unwrap();
        lists.entry(*key).or_default().push(i as u64);
    }
    (map, lists)
}

proptest! {
    #[test]
    fn the_root_is_the_definitions_and_every_answer_proves(
        keys in prop::collection::vec(key_strategy(), 0..60),
        absent in prop::collection::vec(key_strategy(), 1..8),
    ) {
        let (map, lists) = map_of(&keys);
        prop_assert_eq!(map.root(), oracle_root(&lists));
        prop_assert_eq!(map.keys(), lists.len() as u64);
        let root = map.root();
        for (key, indices) in &lists {
            let proof = map.prove(key);
            prop_assert_eq!(&proof.end, &ProofEnd::Member);
            prop_assert_eq!(proof.verify(&root, key, indices), Ok(()));
            // Not one index fewer, more, or none.
            prop_assert!(proof.verify(&root, key, &indices[1..]).is_err());
            prop_assert!(proof.verify(&root, key, &[indices.clone(), vec![999]].concat()).is_err());
            prop_assert_eq!(proof.verify(&root, key, &[]), Err(ProofError::MemberWithoutIndices));
            prop_assert_eq!(MapProof::parse(&proof.to_bytes()), Ok(proof));
        }
        for key in absent.iter().filter(|k| !lists.contains_key(*k)) {
            let proof = map.prove(key);
            prop_assert_eq!(proof.verify(&root, key, &[]), Ok(()));
            prop_assert!(proof.verify(&root, key, &[0]).is_err());
            prop_assert_eq!(MapProof::parse(&proof.to_bytes()), Ok(proof));
        }
    }

    #[test]
    fn a_proof_answers_for_its_key_only(
        keys in prop::collection::vec(key_strategy(), 2..40),
    ) {
        let (map, lists) = map_of(&keys);
        let root = map.root();
        let present: Vec<&Key> = lists.keys().collect();
        for pair in present.windows(2) {
            // Key a's proof, replayed for key b: with a's list, with none.
            let proof = map.prove(pair[0]);
            prop_assert!(proof.verify(&root, pair[1], &lists[pair[0]]).is_err());
            prop_assert!(proof.verify(&root, pair[1], &[]).is_err());
        }
    }

    #[test]
    fn any_changed_byte_of_a_proof_is_refused(
        keys in prop::collection::vec(key_strategy(), 1..40),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (map, lists) = map_of(&keys);
        let root = map.root();
        let (key, indices) = lists.iter().nth(pick.index(lists.len())).unwrap();
        let mut bytes = map.prove(key).to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(proof) = MapProof::parse(&bytes) {
            prop_assert!(proof.verify(&root, key, indices).is_err());
            prop_assert!(proof.verify(&root, key, &[]).is_err());
        }
    }

    #[test]
    fn built_from_storage_equals_built_entry_by_entry(
        keys in prop::collection::vec(key_strategy(), 0..60),
    ) {
        let (map, lists) = map_of(&keys);
        let leaves = lists
            .iter()
            .map(|(k, v)| (*k, value_hash(v).unwrap(), *v.last().unwrap()))
            .collect();
        let built = Map::from_sorted(leaves).unwrap();
        prop_assert_eq!(built.root(), map.root());
        prop_assert_eq!(built.keys(), map.keys());
    }
}

proptest! {
    /// Batches appended at once give the map appending them one by one
    /// gives, whatever the batches' sizes and the keys' order in them; the
    /// revision before a batch stays as it was.
    #[test]
    fn a_batch_appended_at_once_is_the_same_map(
        keys in prop::collection::vec(key_strategy(), 0..80),
        cuts in prop::collection::vec(0usize..80, 0..6),
        shuffle in any::<u64>(),
    ) {
        let (one_by_one, lists) = map_of(&keys);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(keys.len())).collect();
        cuts.push(0);
        cuts.push(keys.len());
        cuts.sort_unstable();
        let mut batched = Map::new();
        for w in cuts.windows(2) {
            let mut batch: Vec<(Key, u64)> = (w[0]..w[1]).map(|i| (keys[i], i as u64)).collect();
            // Any order within the batch.
            let n = batch.len();
            if n > 1 {
                for i in 0..n {
                    let j = (shuffle.wrapping_mul(i as u64 + 7) % n as u64) as usize;
                    batch.swap(i, j);
                }
            }
            let before = batched.clone();
            let root_before = before.root();
            batched.append_all(batch).unwrap();
            prop_assert_eq!(before.root(), root_before);
        }
        prop_assert_eq!(batched.root(), one_by_one.root());
        prop_assert_eq!(batched.root(), oracle_root(&lists));
        prop_assert_eq!(batched.keys(), lists.len() as u64);
        for (key, indices) in &lists {
            prop_assert_eq!(batched.prove(key).verify(&batched.root(), key, indices), Ok(()));
        }
    }
}

#[test]
fn a_batch_must_keep_each_keys_indices_ascending() {
    let k = [7u8; 32];
    let mut map = Map::new();
    map.append_all(vec![(k, 5)]).unwrap();
    let before = map.root();
    assert_eq!(
        map.append_all(vec![(k, 3), ([8; 32], 6)]),
        Err(IndexError::NotAscending { last: 5, index: 3 })
    );
    assert_eq!(map.root(), before, "a refused batch changes nothing");
    assert_eq!(
        map.append_all(vec![([9; 32], 6), ([9; 32], 6)]),
        Err(IndexError::NotAscending { last: 6, index: 6 })
    );
}

#[test]
fn a_clone_keeps_its_revision() {
    let mut map = Map::new();
    map.append(&[1; 32], 0).unwrap();
    let published = map.clone();
    let before = published.root();
    map.append(&[2; 32], 1).unwrap();
    map.append(&[1; 32], 2).unwrap();
    assert_eq!(published.root(), before);
    assert_ne!(map.root(), before);
    assert_eq!(
        published.prove(&[1; 32]).verify(&before, &[1; 32], &[0]),
        Ok(())
    );
    assert_eq!(map.get(&[1; 32]).map(|(_, last)| last), Some(2));
}

#[test]
fn indices_must_ascend_per_key() {
    let mut map = Map::new();
    map.append(&[1; 32], 5).unwrap();
    map.append(&[2; 32], 3).unwrap();
    let root = map.root();
    assert_eq!(
        map.append(&[1; 32], 5),
        Err(IndexError::NotAscending { last: 5, index: 5 })
    );
    assert_eq!(map.root(), root, "a refused update changes nothing");
    assert_eq!(
        Map::from_sorted(vec![([2; 32], EMPTY_CHAIN, 0), ([1; 32], EMPTY_CHAIN, 0)]).err(),
        Some(IndexError::Unsorted)
    );
}

#[test]
fn the_empty_map_proves_every_key_absent_and_nothing_else() {
    let map = Map::new();
    let proof = map.prove(&[7; 32]);
    assert_eq!(proof.end, ProofEnd::Empty);
    assert_eq!(proof.verify(&empty_root(), &[7; 32], &[]), Ok(()));
    assert_eq!(
        proof.verify(&empty_root(), &[7; 32], &[1]),
        Err(ProofError::AbsentWithIndices)
    );
    // An empty-map ending under any other root fails.
    let (full, _) = map_of(&[[7; 32]]);
    assert_eq!(
        proof.verify(&full.root(), &[7; 32], &[]),
        Err(ProofError::Root)
    );
}

#[test]
fn proofs_are_short_for_a_million_keys() {
    // The depth of a trie of n random keys is about log2(n) + a few.
    let mut map = Map::new();
    for i in 0..1u32 << 14 {
        map.append(&Hash::of(&i.to_be_bytes()).0, u64::from(i))
            .unwrap();
    }
    let proof = map.prove(&Hash::of(&7u32.to_be_bytes()).0);
    assert!(proof.steps.len() < 32, "{} steps", proof.steps.len());
    assert!(proof.to_bytes().len() < 1100);
}

#[test]
fn the_map_function_separates_its_two_keys() {
    let d = Hash::of(b"binary");
    let k = [9u8; 32];
    assert_ne!(subject_key(&d), signer_key(&d, &k));
    assert_ne!(signer_key(&d, &k), signer_key(&Hash::of(b"other"), &k));
    // Fixed values, so another implementation can check its map function.
    assert_eq!(
        hex::encode(subject_key(&Hash([0; 32]))),
        hex::encode(Hash::of(&[[0x53].as_slice(), &[0; 32]].concat()).0)
    );
    assert_eq!(value_hash(&[]), Some(EMPTY_CHAIN));
    assert_eq!(value_hash(&[3, 3]), None);
}

#[test]
fn bits_prefixes_and_differences() {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a[1] = 0b0010_0000;
    assert_eq!(first_difference(&a, &b), Some(10));
    assert!(bit(&a, 10) && !bit(&a, 9));
    assert_eq!(prefix(&a, 10), [0; 32]);
    assert_eq!(prefix(&a, 11), a);
    b[31] = 1;
    a = b;
    assert_eq!(first_difference(&a, &b), None);
    b[31] = 0;
    assert_eq!(first_difference(&a, &b), Some(255));
}

#[test]
fn revision_leaves_round_trip_strictly() {
    let r = Revision {
        origin: "example.com/log".into(),
        size: 12,
        log_root: Hash::of(b"log"),
        map_root: Hash::of(b"map"),
    };
    let text = r.to_text();
    assert_eq!(Revision::parse(text.as_bytes()), Ok(r.clone()));
    for bad in [
        text.replace("12", "012"),
        text.replace("12", "+12"),
        text.trim_end().to_string(),
        format!("{text}extra\n"),
        text.replace("reprolog index revision", "reprolog index"),
        text.replace("example.com/log", "example.com log"),
    ] {
        assert!(Revision::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

mod answers {
    use super::*;
    use crate::checkpoint::{Checkpoint, LogVerifier};
    use crate::merkle::{self, Appender};
    use crate::note::Signer;
    use crate::wire::{IndexAnswer, KeyAnswer, WireError};

    /// A tree of stored hashes, as a log keeps it.
    #[derive(Default)]
    struct Tree(Vec<Hash>, u64);

    impl Tree {
        fn push(&mut self, leaf: Hash) {
            let mut app = Appender::new(&self.0, self.1);
            app.push(leaf).unwrap();
            let new = app.new_hashes().to_vec();
            self.0.extend(new);
            self.1 += 1;
        }

        fn signed(&self, signer: &Signer) -> (Checkpoint, String) {
            let cp = Checkpoint {
                origin: signer.name().into(),
                size: self.1,
                root: merkle::tree_hash(self.1, &self.0).unwrap(),
                extensions: vec![],
            };
            let note = cp.sign(signer).unwrap();
            (cp, note)
        }
    }

    /// A log of entries (digest, signer) with its index log, one revision
    /// per entry; the answer for `digest` and `keys` at the end.
    struct World {
        log_key: Signer,
        index_key: Signer,
        log: Tree,
        index: Tree,
        map: Map,
    }

    const D: Hash = Hash([1; 32]);
    const ALICE: [u8; 32] = [0xA1; 32];
    const BOB: [u8; 32] = [0xB0; 32];

    impl World {
        fn new(entries: &[(Hash, [u8; 32])]) -> World {
            let mut w = World {
                log_key: Signer::from_seed("example.com/log", &[1; 32]).unwrap(),
                index_key: Signer::from_seed("example.com/log/index", &[2; 32]).unwrap(),
                log: Tree::default(),
                index: Tree::default(),
                map: Map::new(),
            };
            for (i, (digest, signer)) in entries.iter().enumerate() {
                w.log.push(Hash::leaf(&[i as u8]));
                w.map.append(&subject_key(digest), i as u64).unwrap();
                w.map.append(&signer_key(digest, signer), i as u64).unwrap();
                w.index.push(w.revision().leaf_hash());
            }
            w
        }

        fn revision(&self) -> Revision {
            Revision {
                origin: self.log_key.name().into(),
                size: self.log.1,
                log_root: merkle::tree_hash(self.log.1, &self.log.0).unwrap(),
                map_root: self.map.root(),
            }
        }

        fn answer(&self, keys: &[[u8; 32]], lists: &[Vec<u64>]) -> IndexAnswer {
            let asked: Vec<(Option<[u8; 32]>, Key)> = if keys.is_empty() {
                vec![(None, subject_key(&D))]
            } else {
                keys.iter().map(|k| (Some(*k), signer_key(&D, k))).collect()
            };
            let size = self.index.1;
            IndexAnswer {
                checkpoint: self.index.signed(&self.index_key).1,
                revision: self.revision().to_text(),
                revision_proof: merkle::inclusion_proof(size - 1, size, &self.index.0).unwrap(),
                keys: asked
                    .iter()
                    .zip(lists)
                    .map(|((signer, key), indices)| KeyAnswer {
                        signer: signer.map(hex::encode),
                        indices: indices.clone(),
                        proof: self.map.prove(key).to_bytes(),
                    })
                    .collect(),
            }
        }

        fn verify(
            &self,
            answer: &IndexAnswer,
            keys: &[[u8; 32]],
        ) -> Result<Vec<Vec<u64>>, WireError> {
            let index = LogVerifier::new(self.index_key.verifier());
            let (log_cp, _) = self.log.signed(&self.log_key);
            answer
                .verify(&index, &log_cp, &D, keys)
                .map(|p| p.lists.into_iter().map(|(_, l)| l).collect())
        }
    }

    fn world() -> World {
        let other = Hash([2; 32]);
        World::new(&[(D, ALICE), (other, ALICE), (D, BOB), (D, ALICE)])
    }

    #[test]
    fn an_honest_answer_proves_each_keys_whole_list() {
        let w = world();
        let answer = w.answer(&[ALICE, BOB], &[vec![0, 3], vec![2]]);
        assert_eq!(
            w.verify(&answer, &[ALICE, BOB]),
            Ok(vec![vec![0, 3], vec![2]])
        );
        let all = w.answer(&[], &[vec![0, 2, 3]]);
        assert_eq!(w.verify(&all, &[]), Ok(vec![vec![0, 2, 3]]));
        // A key with nothing: proven absent.
        let carol = [0xC0; 32];
        let none = w.answer(&[carol], &[vec![]]);
        assert_eq!(w.verify(&none, &[carol]), Ok(vec![vec![]]));
    }

    #[test]
    fn a_list_with_an_entry_left_out_is_refused() {
        let w = world();
        let trimmed = w.answer(&[ALICE], &[vec![0]]);
        let err = w.verify(&trimmed, &[ALICE]).unwrap_err().to_string();
        assert!(err.contains("map proof"), "{err}");
        // Nor can the key be said to hold nothing.
        let emptied = w.answer(&[ALICE], &[vec![]]);
        assert!(w.verify(&emptied, &[ALICE]).is_err());
    }

    #[test]
    fn the_revision_must_be_the_index_logs_last_and_of_this_log() {
        let w = world();
        let mut answer = w.answer(&[ALICE], &[vec![0, 3]]);
        // An older revision (the index log's first leaf) under the newest checkpoint.
        let old = World::new(&[(D, ALICE)]);
        answer.revision = old.revision().to_text();
        assert!(w.verify(&answer, &[ALICE]).is_err());
        // Keys answered in another order than asked.
        let swapped = w.answer(&[BOB, ALICE], &[vec![2], vec![0, 3]]);
        assert!(w.verify(&swapped, &[ALICE, BOB]).is_err());
        // An index checkpoint signed by another key.
        let mut forged = w.answer(&[ALICE], &[vec![0, 3]]);
        let stranger = Signer::from_seed("example.com/log/index", &[9; 32]).unwrap();
        forged.checkpoint = w.index.signed(&stranger).1;
        assert!(w.verify(&forged, &[ALICE]).is_err());
    }

    #[test]
    fn a_revision_behind_the_checkpoint_is_refused() {
        let w = world();
        let answer = w.answer(&[ALICE], &[vec![0, 3]]);
        // The log grew past the revision: what the index does not cover
        // could hide an entry, so the answer must be at the revision's size.
        let mut grown = World::new(&[(D, ALICE), (Hash([2; 32]), ALICE), (D, BOB), (D, ALICE)]);
        grown.log.push(Hash::leaf(b"later"));
        let (log_cp, _) = grown.log.signed(&grown.log_key);
        let index = LogVerifier::new(w.index_key.verifier());
        let err = answer
            .verify(&index, &log_cp, &D, &[ALICE])
            .unwrap_err()
            .to_string();
        assert!(err.contains("size 4") && err.contains("size 5"), "{err}");
    }
}
