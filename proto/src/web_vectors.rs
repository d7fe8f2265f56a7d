//! Test vectors for the web page's verifier (server/web/verify.js), made by
//! this crate so the JavaScript and the Rust agree byte for byte:
//! `proto/testdata/web-vectors.json`. The server's browser test runs every
//! vector through the page's code in Chromium.
//!
//! The file is compared with what proto makes now; after a deliberate
//! format change, rewrite it with `REPROLOG_BLESS=1 cargo test -p
//! reprolog-proto web_vectors`.

use crate::checkpoint::Checkpoint;
use crate::cosignature;
use crate::entry::Entry;
use crate::merkle::{self, Appender};
use crate::note::{KeyType, Signer};
use crate::statement::Statement;
use crate::wire::{LookupEntry, LookupResponse};
use crate::Hash;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::json;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/web-vectors.json");

fn vectors() -> serde_json::Value {
    let log = Signer::from_seed("vectors.example/log", &[11; 32]).unwrap();
    let witness = Signer::of_type(KeyType::Cosignature, "vectors.example/w1", &[12; 32]).unwrap();
    let alice = Signer::from_seed("alice.example", &[13; 32]).unwrap();
    let bob = Signer::from_seed("bob.example", &[14; 32]).unwrap();
    let subject = Hash::of(b"the released binary");
    let other = Hash::of(b"another binary");

    // A log of six entries: alice and bob reproduced `subject`, and filler.
    let mut entries = Vec::new();
    for i in 0..4u8 {
        let filler = Hash::of(&[i]);
        entries.push(
            Entry::sign(
                &Statement::minimal("filler", filler, filler, alice.name()),
                &alice,
            )
            .to_cbor(),
        );
    }
    entries.push(
        Entry::sign(
            &Statement::minimal("app", subject, subject, alice.name()),
            &alice,
        )
        .to_cbor(),
    );
    entries.push(
        Entry::sign(
            &Statement::minimal("app", subject, subject, bob.name()),
            &bob,
        )
        .to_cbor(),
    );
    let mut stored: Vec<Hash> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let mut app = Appender::new(&stored, i as u64);
        app.push(Hash::leaf(e)).unwrap();
        stored.extend(app.new_hashes().to_vec());
    }
    let size = entries.len() as u64;
    let cp = Checkpoint {
        origin: log.name().into(),
        size,
        root: merkle::tree_hash(size, &stored).unwrap(),
        extensions: vec![],
    };
    let signed = cp.sign(&log).unwrap();
    let cosig = cosignature::cosign(&witness, &cp.to_text(), 1_767_225_600).unwrap();
    let cosigned = format!("{signed}{}", cosig.to_line());
    let mut forged_sig = cosig.clone();
    forged_sig.signature[30] ^= 1;
    let forged = format!("{signed}{}", forged_sig.to_line());

    let proof = |i: u64| merkle::inclusion_proof(i, size, &stored).unwrap();
    let b64s = |hs: &[Hash]| hs.iter().map(Hash::to_base64).collect::<Vec<_>>();
    let lookup = LookupResponse {
        checkpoint: cosigned.clone(),
        entries: [4u64, 5]
            .iter()
            .map(|&i| LookupEntry {
                index: i,
                entry: entries[i as usize].clone(),
                inclusion_proof: proof(i),
            })
            .collect(),
        index: None,
        total: Some(2),
        matched: Some(2),
        next: None,
    };
    let mut tampered = lookup.clone();
    tampered.entries[1].inclusion_proof[0] = Hash::of(b"tampered");

    let policy = |consensus_k: usize, quorum: &str| {
        format!(
            "log {} http://vectors.example\nwitness w1 {}\nrebuilder alice {}\nrebuilder bob {}\ngroup core {consensus_k} alice bob\nconsensus core\nquorum {quorum}\n",
            log.verifier().to_key_text(),
            witness.verifier().to_key_text(),
            alice.verifier().to_key_text(),
            bob.verifier().to_key_text()
        )
    };
    let index = index_vectors(&IndexWorld {
        log: &log,
        witness: &witness,
        keys: [&alice, &bob],
        entries: &entries,
        stored: &stored,
        lookup: &lookup,
        subject,
        other,
        policy: policy(2, "w1") + "max-age none\n",
    });
    let mut forged_entry = Entry::from_cbor(&entries[4]).unwrap();
    forged_entry.sig[0] ^= 1;
    let bad_entry = forged_entry.to_cbor();

    json!({
        "note": {
            // The C2SP signed-note vector of the brief.
            "vkey": "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "note": "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
        },
        "checkpoint": {
            "origin": log.name(),
            "size": size,
            "root": cp.root.to_base64(),
            "cosigned": cosigned,
            "logOnly": signed,
            "forgedCosignature": forged,
            // Vectors are cosigned at a fixed, long past time: without an
            // age bound (`policyDefaultAge` has the default, a day).
            "policyWitnessed": policy(2, "w1") + "max-age none\n",
            "policyDefaultAge": policy(2, "w1"),
            "policyNone": policy(2, "none"),
        },
        "inclusion": [
            { "index": 4, "size": size, "leaf": Hash::leaf(&entries[4]).to_base64(), "proof": b64s(&proof(4)), "root": cp.root.to_base64(), "valid": true },
            { "index": 0, "size": size, "leaf": Hash::leaf(&entries[0]).to_base64(), "proof": b64s(&proof(0)), "root": cp.root.to_base64(), "valid": true },
            { "index": 4, "size": size, "leaf": Hash::leaf(&entries[4]).to_base64(), "proof": b64s(&proof(5)), "root": cp.root.to_base64(), "valid": false },
            { "index": 4, "size": size, "leaf": Hash::leaf(&entries[4]).to_base64(), "proof": b64s(&[proof(4), vec![Hash::of(b"junk")]].concat()), "root": cp.root.to_base64(), "valid": false },
            { "index": 6, "size": size, "leaf": Hash::leaf(&entries[4]).to_base64(), "proof": b64s(&proof(4)), "root": cp.root.to_base64(), "valid": false },
        ],
        "entry": {
            "cbor": BASE64.encode(&entries[4]),
            "key": hex::encode(alice.verifier().public_key()),
            "subject": subject.to_hex(),
            "badSignature": BASE64.encode(&bad_entry),
        },
        "lookup": {
            "digest": subject.to_hex(),
            "other": other.to_hex(),
            "page": lookup,
            "tampered": tampered,
            "reproducedWith2": "REPRODUCED",
        },
        "index": index,
    })
}

/// What the index vectors are made from.
struct IndexWorld<'a> {
    log: &'a Signer,
    witness: &'a Signer,
    keys: [&'a Signer; 2],
    entries: &'a [Vec<u8>],
    stored: &'a [Hash],
    lookup: &'a LookupResponse,
    subject: Hash,
    other: Hash,
    policy: String,
}

/// The log's index (one revision, of all its entries), a policy naming it,
/// the lookup with its index answer, the same with a MISMATCH-style entry
/// left out (counts fixed), with the list doctored too, and a digest with no
/// entries proven absent.
fn index_vectors(w: &IndexWorld) -> serde_json::Value {
    use crate::index::{revision::Revision, signer_key, subject_key, trie::Map};
    use crate::wire::{IndexAnswer, KeyAnswer};
    let index_log = Signer::from_seed(&format!("{}/index", w.log.name()), &[15; 32]).unwrap();
    let mut map = Map::new();
    for (i, bytes) in w.entries.iter().enumerate() {
        let e = Entry::from_cbor(bytes).unwrap();
        let d = e.statement().unwrap().subject_digest().unwrap();
        map.append(&subject_key(&d), i as u64).unwrap();
        map.append(&signer_key(&d, &e.key), i as u64).unwrap();
    }
    let size = w.entries.len() as u64;
    let revision = Revision {
        origin: w.log.name().into(),
        size,
        log_root: merkle::tree_hash(size, w.stored).unwrap(),
        map_root: map.root(),
    };
    let icp = Checkpoint {
        origin: index_log.name().into(),
        size: 1,
        root: revision.leaf_hash(),
        extensions: vec![],
    };
    let cosig = cosignature::cosign(w.witness, &icp.to_text(), 1_767_225_600).unwrap();
    let index_note = format!("{}{}", icp.sign(&index_log).unwrap(), cosig.to_line());
    let answer = |digest: &Hash, lists: [Vec<u64>; 2]| IndexAnswer {
        checkpoint: index_note.clone(),
        revision: revision.to_text(),
        revision_proof: vec![],
        keys: w
            .keys
            .iter()
            .zip(lists)
            .map(|(k, indices)| KeyAnswer {
                signer: Some(hex::encode(k.verifier().public_key())),
                indices,
                proof: map
                    .prove(&signer_key(digest, &k.verifier().public_key()))
                    .to_bytes(),
            })
            .collect(),
    };
    let mut page = w.lookup.clone();
    page.index = Some(answer(&w.subject, [vec![4], vec![5]]));
    let mut dropped = page.clone();
    dropped.entries.retain(|e| e.index != 5);
    dropped.total = Some(1);
    dropped.matched = Some(1);
    let mut lied = dropped.clone();
    if let Some(a) = lied.index.as_mut() {
        a.keys[1].indices.clear();
    }
    let absent = LookupResponse {
        entries: vec![],
        index: Some(answer(&w.other, [vec![], vec![]])),
        total: Some(0),
        matched: Some(0),
        ..w.lookup.clone()
    };
    let policy = w.policy.replacen(
        '\n',
        &format!("\nindex {}\n", index_log.verifier().to_key_text()),
        1,
    );
    json!({
        "policy": policy,
        "keys": w.keys.iter().map(|k| hex::encode(k.verifier().public_key())).collect::<Vec<_>>(),
        "page": page,
        "dropped": dropped,
        "lied": lied,
        "absent": absent,
    })
}

#[test]
fn web_vectors_are_current() {
    let now = serde_json::to_string_pretty(&vectors()).unwrap() + "\n";
    if std::env::var_os("REPROLOG_BLESS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(PATH).parent().unwrap()).unwrap();
        std::fs::write(PATH, &now).unwrap();
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == now,
        "{PATH} is stale: rerun with REPROLOG_BLESS=1 and commit it"
    );
}

#[test]
fn the_vectors_say_what_proto_says() {
    let v = vectors();
    let cp = &v["checkpoint"];
    let quorum = crate::policy::Policy::parse(cp["policyWitnessed"].as_str().unwrap()).unwrap();
    let log = quorum.log_verifier(&quorum.logs[0]);
    assert!(log
        .open(cp["cosigned"].as_str().unwrap().as_bytes())
        .is_ok());
    assert!(log
        .open(cp["logOnly"].as_str().unwrap().as_bytes())
        .is_err());
    assert!(log
        .open(cp["forgedCosignature"].as_str().unwrap().as_bytes())
        .is_err());
    for case in v["inclusion"].as_array().unwrap() {
        let h = |s: &serde_json::Value| Hash::from_base64(s.as_str().unwrap()).unwrap();
        let proof: Vec<Hash> = case["proof"].as_array().unwrap().iter().map(h).collect();
        let ok = merkle::verify_inclusion(
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
            &h(&case["leaf"]),
            &proof,
            &h(&case["root"]),
        )
        .is_ok();
        assert_eq!(ok, case["valid"].as_bool().unwrap(), "{case}");
    }
    let page: LookupResponse = serde_json::from_value(v["lookup"]["page"].clone()).unwrap();
    assert!(page.verify(&log).is_ok());
    // The index vectors: the honest page proves its lists, the others fail.
    let ipolicy = crate::policy::Policy::parse(v["index"]["policy"].as_str().unwrap()).unwrap();
    let iverifier = ipolicy.index_verifier(&ipolicy.logs[0]).unwrap();
    let keys: Vec<[u8; 32]> = ipolicy
        .rebuilders
        .iter()
        .map(|r| r.key.public_key())
        .collect();
    let prove = |name: &str, digest: &str| {
        let page: LookupResponse = serde_json::from_value(v["index"][name].clone()).unwrap();
        let cp = page.verify(&log).unwrap();
        let digest = Hash::from_hex(v["lookup"][digest].as_str().unwrap()).unwrap();
        page.index
            .as_ref()
            .unwrap()
            .verify(&iverifier, &cp, &digest, &keys)
            .and_then(|p| p.check_entries(&page.entries))
    };
    assert_eq!(prove("page", "digest"), Ok(()));
    assert_eq!(prove("absent", "other"), Ok(()));
    assert!(prove("dropped", "digest")
        .unwrap_err()
        .to_string()
        .contains("leaves it out"));
    assert!(prove("lied", "digest")
        .unwrap_err()
        .to_string()
        .contains("map proof"));
    let tampered: LookupResponse = serde_json::from_value(v["lookup"]["tampered"].clone()).unwrap();
    assert!(tampered.verify(&log).is_err());
    let bad = BASE64
        .decode(v["entry"]["badSignature"].as_str().unwrap())
        .unwrap();
    assert!(Entry::parse_and_verify(&bad).is_err());
}
