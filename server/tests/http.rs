//! The log server over real HTTP on 127.0.0.1: receipts, tiles, proofs, restart.

mod common;

use common::*;
use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::checkpoint::LogVerifier;
use reprolog_proto::merkle;
use reprolog_proto::note::Signer;
use reprolog_proto::wire::{ConsistencyProof, InclusionProof, LookupResponse, Receipt};
use reprolog_proto::Hash;
use std::collections::BTreeMap;
use std::sync::Arc;

fn submit(server: &TestServer, bytes: &[u8]) -> Receipt {
    server.submit(bytes)
}

#[test]
fn concurrent_submissions_verify_end_to_end_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    // 320 entries from fresh keys at once: beyond the unknown keys' total
    // budget (tested in strangers.rs), which is not what this test is about.
    let server = TestServer::start(dir.path(), &key, &["--unknown-total-rate", "0"]);
    let url = Arc::new(server.url.clone());

    // 8 rebuilders submit 40 entries each, concurrently.
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let key = key.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let signer = Signer::generate(&format!("rebuilder-{t}")).unwrap();
                let srv = ServerRef {
                    url: url.to_string(),
                    key,
                };
                (0..40)
                    .map(|i| {
                        let bytes = entry_for(
                            &signer,
                            &format!("prog-{i}"),
                            Hash::of(format!("binary {}", i % 10).as_bytes()),
                            t % 3 != 0,
                        );
                        let r = srv.submit(&bytes);
                        let cp = r
                            .verify(&bytes, &LogVerifier::new(srv.key.clone()))
                            .expect("receipt verifies");
                        (bytes, r, cp)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(Vec<u8>, Receipt, Checkpoint)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    // Every index is distinct and the final tree holds exactly them.
    let by_index: BTreeMap<u64, &Vec<u8>> = results.iter().map(|(b, r, _)| (r.index, b)).collect();
    assert_eq!(by_index.len(), 320);
    let last = server.checkpoint();
    assert_eq!(last.size, 320);

    // The client's verified tile reader reads every entry back from the
    // bundles, each authenticated against the checkpoint.
    let log = reprolog_io::http::connect(&server.url, key.clone());
    let tiles = log.tiles(&last);
    let mut bundled = Vec::new();
    for n in 0..tiles.bundle_count() {
        bundled.extend(tiles.bundle(n).expect("bundle verifies"));
    }
    assert_eq!(bundled.len(), 320);
    for (i, e) in bundled.iter().enumerate() {
        assert_eq!(by_index[&(i as u64)], e, "bundle entry {i}");
    }

    // Consistency between every pair of distinct checkpoints the clients saw.
    let mut seen: BTreeMap<u64, Hash> = results.iter().map(|(_, _, c)| (c.size, c.root)).collect();
    seen.insert(last.size, last.root);
    let sizes: Vec<u64> = seen.keys().copied().collect();
    for (a, &old) in sizes.iter().enumerate() {
        for &new in &sizes[a..] {
            let (status, body) = server.get(&format!("/proof/consistency?old={old}&new={new}"));
            assert_eq!(status, 200);
            let p: ConsistencyProof = serde_json::from_slice(&body).unwrap();
            merkle::verify_consistency(old, new, &seen[&old], &seen[&new], &p.proof)
                .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
            if new == last.size {
                assert_eq!(
                    tiles.consistency_proof(old).unwrap(),
                    p.proof,
                    "{old}->{new}"
                );
            }
        }
    }

    // Duplicates return the existing index and do not grow the tree.
    let (bytes, first, _) = &results[17];
    let again = server.submit_ref(bytes);
    assert_eq!(again.index, first.index);
    assert_eq!(server.checkpoint().size, 320);

    // Lookup answers carry every entry for a digest with proofs.
    let digest = Hash::of(b"binary 3");
    let (status, body) = server.get(&format!("/lookup/{}", digest.to_hex()));
    assert_eq!(status, 200);
    let lookup: LookupResponse = serde_json::from_slice(&body).unwrap();
    lookup
        .verify(&LogVerifier::new(key.clone()))
        .expect("lookup verifies");
    assert_eq!(lookup.entries.len(), 32);

    // CBOR receipts on request.
    let mut resp = agent()
        .post(&format!("{}/add-entry", server.url))
        .header("Content-Type", "application/cbor")
        .header("Accept", "application/cbor")
        .send(&bytes[..])
        .unwrap();
    let cbor_receipt: Receipt = ciborium_from(&resp.body_mut().read_to_vec().unwrap());
    assert_eq!(cbor_receipt.index, first.index);

    // Restart on the same data dir: same checkpoint, every receipt still proves.
    server.stop();
    let server = TestServer::start(dir.path(), &key, &[]);
    let after = server.checkpoint();
    assert_eq!((after.size, after.root), (last.size, last.root));
    for (bytes, r, _) in results.iter().step_by(7) {
        let (status, body) = server.get(&format!(
            "/proof/inclusion?index={}&size={}",
            r.index, after.size
        ));
        assert_eq!(status, 200);
        let p: InclusionProof = serde_json::from_slice(&body).unwrap();
        merkle::verify_inclusion(
            r.index,
            after.size,
            &Hash::leaf(bytes),
            &p.proof,
            &after.root,
        )
        .unwrap();
    }
    server.stop();
}

fn ciborium_from<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    ciborium::from_reader(bytes).expect("CBOR body")
}

/// A cloneable handle for submitting from threads.
struct ServerRef {
    url: String,
    key: reprolog_proto::note::Verifier,
}

impl ServerRef {
    fn submit(&self, bytes: &[u8]) -> Receipt {
        let mut resp = agent()
            .post(&format!("{}/add-entry", self.url))
            .header("Content-Type", "application/cbor")
            .send(bytes)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
    }
}

trait SubmitRef {
    fn submit_ref(&self, bytes: &[u8]) -> Receipt;
}

impl SubmitRef for TestServer {
    fn submit_ref(&self, bytes: &[u8]) -> Receipt {
        submit(self, bytes)
    }
}
