use super::*;
use crate::checkpoint::Checkpoint;
use crate::merkle::{consistency_proof, tree_hash};
use crate::note::Signer;
use crate::testing::tree;

const ORIGIN: &str = "example.com/log";

fn log_key() -> Signer {
    Signer::from_seed(ORIGIN, &[3; 32]).unwrap()
}

fn signed(size: u64, root: Hash) -> Vec<u8> {
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root,
        extensions: vec![],
    };
    cp.sign(&log_key()).unwrap().into_bytes()
}

fn request(stored: &[Hash], old: u64, new: u64) -> AddCheckpoint {
    let root = tree_hash(new, stored).unwrap();
    let proof = if old == 0 || old == new {
        vec![]
    } else {
        consistency_proof(old, new, stored).unwrap()
    };
    AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: signed(new, root),
    }
}

fn at(stored: &[Hash], size: u64) -> Option<Witnessed> {
    Some(Witnessed {
        size,
        root: tree_hash(size, stored).unwrap(),
    })
}

#[test]
fn requests_round_trip_the_spec_layout() {
    let stored = tree(20);
    let req = request(&stored, 7, 20);
    let body = req.to_body();
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.starts_with("old 7\n"), "{text}");
    assert!(text.contains(&format!("\n\n{ORIGIN}\n20\n")), "{text}");
    assert_eq!(AddCheckpoint::parse(&body).unwrap(), req);
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let stored = tree(20);
    let good = String::from_utf8(request(&stored, 7, 20).to_body()).unwrap();
    let proof_line = consistency_proof(7, 20, &stored).unwrap()[0].to_base64();
    let many = format!(
        "old 7\n{}\n{ORIGIN}\n",
        format!("{proof_line}\n").repeat(64)
    );
    for bad in [
        good.replace("old 7", "old 07"),
        good.replace("old 7", "old -7"),
        good.replace("old 7", "old  7"),
        good.replace("old 7", "new 7"),
        good.replacen(&proof_line, "AAAA", 1),
        good.replace("\n\n", "\n"),
        "old 0\n\n".to_string(),
        "old 0".to_string(),
        many,
    ] {
        match AddCheckpoint::parse(bad.as_bytes()) {
            Err(Refusal::BadRequest(_)) => {}
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    assert_eq!(parse_size_body(b"12\n"), Some(12));
    assert_eq!(parse_size_body(b"012\n"), None);
    assert_eq!(parse_size_body(b"12"), None);
}

#[test]
fn each_rule_has_its_status() {
    let stored = tree(20);
    let keys = [log_key().verifier()];
    let status = |req: &AddCheckpoint, keys: &[Verifier], latest| {
        req.check(keys, latest)
            .map(|_| 200)
            .unwrap_or_else(|e| e.status())
    };
    // 200: first contact, from 0; then onwards with a proof.
    assert_eq!(status(&request(&stored, 0, 7), &keys, None), 200);
    assert_eq!(status(&request(&stored, 7, 20), &keys, at(&stored, 7)), 200);
    // The same checkpoint again is fine (idempotent).
    assert_eq!(
        status(&request(&stored, 20, 20), &keys, at(&stored, 20)),
        200
    );
    // 404: no key for the origin.
    assert_eq!(status(&request(&stored, 0, 7), &[], None), 404);
    // 403: signed by another key under the same name.
    let other = Signer::from_seed(ORIGIN, &[4; 32]).unwrap().verifier();
    assert_eq!(status(&request(&stored, 0, 7), &[other], None), 403);
    // 400: old past the checkpoint, or a proof from 0.
    let mut past = request(&stored, 7, 20);
    past.old_size = 21;
    let beyond = Witnessed {
        size: 21,
        root: Hash::of(b"elsewhere"),
    };
    assert_eq!(status(&past, &keys, Some(beyond)), 400);
    let mut from_zero = request(&stored, 0, 7);
    from_zero.proof = vec![Hash::of(b"x")];
    assert_eq!(status(&from_zero, &keys, None), 400);
    // 409: the witness is elsewhere; it says where.
    let err = request(&stored, 5, 20)
        .check(&keys, at(&stored, 7))
        .unwrap_err();
    assert_eq!((err.status(), err), (409, Refusal::Conflict(7)));
    assert_eq!(
        request(&stored, 7, 20).check(&keys, None).unwrap_err(),
        Refusal::Conflict(0)
    );
    // 422: a bad proof; a size-0 root that is not the empty tree's; the
    // same size with another root.
    let mut bad_proof = request(&stored, 7, 20);
    bad_proof.proof[0] = Hash::of(b"junk");
    assert_eq!(status(&bad_proof, &keys, at(&stored, 7)), 422);
    let empty_lie = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: signed(0, Hash::of(b"not empty")),
    };
    assert_eq!(status(&empty_lie, &keys, None), 422);
    let fork = AddCheckpoint {
        old_size: 20,
        proof: vec![],
        checkpoint: signed(20, Hash::of(b"another tree")),
    };
    assert_eq!(status(&fork, &keys, at(&stored, 20)), 422);
    // A proof with junk appended is refused.
    let mut padded = request(&stored, 7, 20);
    padded.proof.push(Hash::of(b"extra"));
    assert_eq!(status(&padded, &keys, at(&stored, 7)), 422);
}
