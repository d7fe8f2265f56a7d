//! `reprolog-server witness` (C2SP tlog-witness) run as a real process:
//! every status code it answers, its memory across SIGKILL, a fork it must
//! refuse, the log publishing only cosigned checkpoints, and a client that
//! requires the quorum. A cosignature is also checked by OpenSSL from the
//! spec's text, independently of our code.

mod common;

use common::witness::{witness_key, witnessed_log, WitnessProcess, WitnessedLog};
use common::*;
use reprolog_client::memory::CheckpointMemory;
use reprolog_client::verify::{self, Source, Verdict};
use reprolog_proto::checkpoint::{Checkpoint, LogVerifier};
use reprolog_proto::merkle;
use reprolog_proto::note::{KeyType, Signer, Verifier};
use reprolog_proto::policy::{Policy, WitnessQuorum};
use reprolog_proto::testing::tree;
use reprolog_proto::witness::AddCheckpoint;
use reprolog_proto::{cosignature, Hash};
use std::path::{Path, PathBuf};
use std::process::Command;

fn signed(key: &Signer, size: u64, root: Hash) -> Vec<u8> {
    let cp = Checkpoint {
        origin: key.name().into(),
        size,
        root,
        extensions: vec![],
    };
    cp.sign(key).unwrap().into_bytes()
}

/// A request moving the witness from `old` to `new` over `stored`.
/// The checkpoint a signed note carries, its signatures unchecked.
fn body_of(note: &[u8]) -> Checkpoint {
    let text = std::str::from_utf8(note).unwrap();
    let (body, _) = text.split_once("\n\n").unwrap();
    Checkpoint::parse(&format!("{body}\n")).unwrap()
}

fn request(key: &Signer, stored: &[Hash], old: u64, new: u64) -> Vec<u8> {
    let proof = if old == 0 || old == new {
        vec![]
    } else {
        merkle::consistency_proof(old, new, stored).unwrap()
    };
    AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: signed(key, new, merkle::tree_hash(new, stored).unwrap()),
    }
    .to_body()
}

/// A witness for the logs `keys`, in a new directory.
fn setup(keys: &[&Signer]) -> (tempfile::TempDir, Verifier) {
    let dir = tempfile::tempdir().unwrap();
    let vkey = witness_key(dir.path(), "witness.test/w1");
    let logs: String = keys
        .iter()
        .map(|k| format!("log {}\n", k.verifier().to_key_text()))
        .collect();
    std::fs::write(dir.path().join("logs"), logs).unwrap();
    (dir, vkey)
}

#[test]
fn witness_answers_every_status_code() {
    let log = Signer::generate("witness-test.localhost/log").unwrap();
    let fresh = Signer::generate("witness-test.localhost/fresh").unwrap();
    let (dir, vkey) = setup(&[&log, &fresh]);
    assert_eq!(vkey.kind(), KeyType::Cosignature);
    let w = WitnessProcess::start(dir.path());
    let stored = tree(9);

    // 200: the first checkpoint, from 0; the answer is a cosignature line.
    let (status, _, body) = w.add(&request(&log, &stored, 0, 5));
    assert_eq!(status, 200, "{body}");
    let cp_text = body_of(&signed(&log, 5, merkle::tree_hash(5, &stored).unwrap())).to_text();
    check_independently(dir.path(), &vkey, &cp_text, &body);

    // 409: the old size is not the witness's; the body says its size.
    let (status, ct, body) = w.add(&request(&log, &stored, 0, 7));
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );

    // 404: an origin it does not witness.
    let stranger = Signer::generate("stranger.localhost/log").unwrap();
    assert_eq!(w.add(&request(&stranger, &stored, 0, 5)).0, 404);

    // 403: the right origin, signed by another key.
    let impostor = Signer::generate(log.name()).unwrap();
    assert_eq!(w.add(&request(&impostor, &stored, 5, 7)).0, 403);

    // 400: not a request; the old size past the checkpoint.
    assert_eq!(w.add(b"hello\n").0, 400);
    let mut past = AddCheckpoint::parse(&request(&log, &stored, 5, 7)).unwrap();
    past.old_size = 8;
    assert_eq!(w.add(&past.to_body()).0, 400);

    // 422: a bad proof; the same size with another root; a size-0 root
    // that is not SHA-256 of the empty string.
    let mut bad = AddCheckpoint::parse(&request(&log, &stored, 5, 7)).unwrap();
    bad.proof[0] = Hash::of(b"junk");
    assert_eq!(w.add(&bad.to_body()).0, 422);
    let fork = AddCheckpoint {
        old_size: 5,
        proof: vec![],
        checkpoint: signed(&log, 5, Hash::of(b"another tree")),
    };
    assert_eq!(w.add(&fork.to_body()).0, 422);
    let empty_lie = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: signed(&fresh, 0, Hash::of(b"not empty")),
    };
    assert_eq!(w.add(&empty_lie.to_body()).0, 422);

    // None of the refusals moved it: 5 → 9 with a proof is cosigned.
    let (status, _, body) = w.add(&request(&log, &stored, 5, 9));
    assert_eq!(status, 200, "{body}");
}

/// Checks a cosignature line the way the spec words it, with OpenSSL doing
/// the Ed25519 verification: key ID = SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4];
/// message = "cosignature/v1\ntime <t>\n" ‖ checkpoint text.
fn check_independently(dir: &Path, vkey: &Verifier, checkpoint_text: &str, answer: &str) {
    use base64::Engine;
    use sha2::Digest;
    let b64 = base64::engine::general_purpose::STANDARD;
    let line = answer.lines().next().unwrap();
    let rest = line.strip_prefix("— witness.test/w1 ").expect(line);
    let blob = b64.decode(rest).unwrap();
    assert_eq!(blob.len(), 4 + 8 + 64);
    let key = vkey.public_key();
    let mut id = sha2::Sha256::new();
    id.update(b"witness.test/w1\n\x04");
    id.update(key);
    assert_eq!(&blob[..4], &id.finalize()[..4]);
    let time = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(time <= now && now - time < 600, "timestamp {time}");
    let message = format!("cosignature/v1\ntime {time}\n{checkpoint_text}");
    // An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte DER prefix and the key.
    let mut der = hex_decode("302a300506032b6570032100");
    der.extend_from_slice(&key);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.encode(der)
    );
    let files = |name: &str| -> PathBuf { dir.join(name) };
    std::fs::write(files("w.pem"), pem).unwrap();
    std::fs::write(files("msg"), message).unwrap();
    std::fs::write(files("sig"), &blob[12..]).unwrap();
    let out = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(files("w.pem"))
        .arg("-in")
        .arg(files("msg"))
        .arg("-sigfile")
        .arg(files("sig"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // And a flipped message byte fails there too: the check can fail.
    std::fs::write(
        files("msg"),
        format!("cosignature/v1\ntime {}\n{checkpoint_text}", time + 1),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
        .arg(files("w.pem"))
        .arg("-in")
        .arg(files("msg"))
        .arg("-sigfile")
        .arg(files("sig"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn witness_remembers_what_it_cosigned_across_sigkill() {
    let log = Signer::generate("witness-test.localhost/log").unwrap();
    let (dir, _) = setup(&[&log]);
    let stored = tree(12);
    let w = WitnessProcess::start(dir.path());
    assert_eq!(w.add(&request(&log, &stored, 0, 5)).0, 200);
    assert_eq!(w.add(&request(&log, &stored, 5, 12)).0, 200);
    w.sigkill();

    let w = WitnessProcess::start(dir.path());
    // An older checkpoint is refused however it is asked for.
    let (status, _, body) = w.add(&request(&log, &stored, 0, 5));
    assert_eq!((status, body.as_str()), (409, "12\n"));
    let mut back = AddCheckpoint::parse(&request(&log, &stored, 0, 5)).unwrap();
    back.old_size = 12;
    assert_eq!(w.add(&back.to_body()).0, 400);
    // The one it cosigned last is still its state.
    assert_eq!(w.add(&request(&log, &stored, 12, 12)).0, 200);
}

#[test]
fn forks_are_refused_and_clients_require_the_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let log = witnessed_log(dir.path(), &[], &[]);
    let rebuilder = Signer::generate("rebuilder.test").unwrap();
    let client_policy = log.client_policy(&rebuilder, "");
    let WitnessedLog {
        key,
        wvkey,
        witness: w,
        policy_file,
        server,
        data,
    } = log;
    let subject = Hash::of(b"a witnessed binary");
    for i in 0..3 {
        let receipt = server.submit(&entry_for(&rebuilder, "bin", Hash::of(&[i]), true));
        assert_eq!(receipt.index, i as u64);
    }
    server.submit(&entry_for(&rebuilder, "bin", subject, true));

    // Every published checkpoint carries the witness's cosignature.
    let quorum = WitnessQuorum::parse(&std::fs::read_to_string(&policy_file).unwrap()).unwrap();
    let verifier = LogVerifier::with_witnesses(key.clone(), quorum.clone());
    let (_, note) = server.get("/checkpoint");
    let cp = verifier.open(&note).expect("cosigned checkpoint opens");
    assert_eq!(cp.size, 4);
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("reprolog_witness_failures_total{witness=\"w1\"} 0"),
        "{metrics}"
    );

    // The client under a 1-of-1 witness policy says REPRODUCED.
    let memory = CheckpointMemory::new(&dir.path().join("client"));
    let (report, _) =
        verify::verify(subject, &client_policy, Source::Online { memory: &memory }).unwrap();
    assert_eq!(
        report.verdict,
        Verdict::Reproduced,
        "{:?}",
        report.log_errors
    );

    // The log key signs a second checkpoint of size 4: a fork. The witness
    // refuses it, and a client requiring the quorum refuses it for lack of
    // the cosignature, though the log's own signature is valid.
    let log_signer =
        Signer::from_key_text(&std::fs::read_to_string(data.join("log.key")).unwrap()).unwrap();
    let forked = signed(&log_signer, 4, Hash::of(b"the other tree"));
    let (status, _, body) = w.add(
        &AddCheckpoint {
            old_size: 4,
            proof: vec![],
            checkpoint: forked.clone(),
        }
        .to_body(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(Checkpoint::open(&forked, key.name(), &key).is_ok());
    let err = verifier.open(&forked).unwrap_err().to_string();
    assert!(err.contains("witness quorum"), "{err}");
    // A forged cosignature line does not help: it fails verification.
    let impostor = Signer::of_type(KeyType::Cosignature, "witness.test/w1", &[9; 32]).unwrap();
    let forged_line = cosignature::cosign(&impostor, &body_of(&forked).to_text(), 1).unwrap();
    let mut with_forged = forked.clone();
    with_forged.extend_from_slice(forged_line.to_line().as_bytes());
    assert!(verifier.open(&with_forged).is_err());

    // Witness down: the log refuses to acknowledge (it cannot publish), but
    // the entry is stored and acknowledged once the witness is back.
    drop(w);
    let late = entry_for(&rebuilder, "bin", Hash::of(b"late"), true);
    let (status, body) = server.post_entry(&late, "application/cbor");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    let said = String::from_utf8_lossy(&body);
    assert!(said.contains("witness quorum"), "{said}");
    // One story: stored, not acknowledged yet (never "not acknowledged, retry
    // later" beside "stored").
    assert!(
        said.contains("the entry is stored but not yet covered by a cosigned checkpoint"),
        "{said}"
    );
    assert!(!said.contains("was not acknowledged"), "{said}");
    let (_, metrics) = server.get("/metrics");
    assert!(!String::from_utf8(metrics)
        .unwrap()
        .contains("{witness=\"w1\"} 0"));
    let w = WitnessProcess::start(dir.path());
    assert!(w.url != server.url);
    // The log still points at the old address; a witness back at a new one
    // is a new policy: restart the log with it.
    std::fs::write(
        &policy_file,
        format!("witness w1 {} {}\nquorum w1\n", wvkey.to_key_text(), w.url),
    )
    .unwrap();
    server.stop();
    let server = TestServer::start(
        &data,
        &key,
        &["--witness-policy", policy_file.to_str().unwrap()],
    );
    let receipt = server.submit(&late);
    assert_eq!(receipt.index, 4, "the stored entry kept its place");
    let cp = receipt
        .verify(&late, &verifier)
        .expect("receipt under a cosigned checkpoint");
    assert_eq!(cp.size, 5);

    // A second, new witness joins (it has cosigned nothing: size 0). The
    // log offers it `old 5`, gets 409 "0", and catches it up from 0.
    let d2 = dir.path().join("w2");
    std::fs::create_dir_all(&d2).unwrap();
    let w2key = witness_key(&d2, "witness.test/w2");
    std::fs::copy(dir.path().join("logs"), d2.join("logs")).unwrap();
    let w2 = WitnessProcess::start(&d2);
    std::fs::write(
        &policy_file,
        format!(
            "witness w1 {} {}\nwitness w2 {} {}\ngroup both all w1 w2\nquorum both\n",
            wvkey.to_key_text(),
            w.url,
            w2key.to_key_text(),
            w2.url
        ),
    )
    .unwrap();
    server.stop();
    let server = TestServer::start(
        &data,
        &key,
        &["--witness-policy", policy_file.to_str().unwrap()],
    );
    let next = entry_for(&rebuilder, "bin", Hash::of(b"next"), true);
    let receipt = server.submit(&next);
    let both = LogVerifier::with_witnesses(
        key.clone(),
        WitnessQuorum::parse(&std::fs::read_to_string(&policy_file).unwrap()).unwrap(),
    );
    assert_eq!(receipt.verify(&next, &both).unwrap().size, 6);
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("reprolog_witness_failures_total{witness=\"w2\"} 0"),
        "{metrics}"
    );
}

/// `max-age`: a client refuses a checkpoint the witness quorum cosigned too
/// long ago (LOG ERROR naming the age), online and offline; an idle witnessed
/// log has its checkpoint cosigned again on its timer, so it is REPRODUCED
/// again with no new entry; a log whose witness is gone goes stale.
#[test]
fn stale_checkpoints_are_log_errors_and_the_timer_keeps_an_idle_log_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let log = witnessed_log(dir.path(), &[], &["--witness-refresh-secs", "4"]);
    let rebuilder = Signer::generate("rebuilder.test").unwrap();
    let policy = log.client_policy(&rebuilder, "max-age 2s\n");
    let WitnessedLog {
        key,
        witness: w,
        policy_file,
        server,
        ..
    } = log;
    let subject = Hash::of(b"a fresh binary");
    server.submit(&entry_for(&rebuilder, "bin", subject, true));
    let memory = CheckpointMemory::new(&dir.path().join("client"));
    let online = || verify::verify(subject, &policy, Source::Online { memory: &memory }).unwrap();
    let (first, answers) = online();
    assert_eq!(first.verdict, Verdict::Reproduced, "{:?}", first.log_errors);
    assert!(first.cosigned_ago[0].1 <= 2, "{:?}", first.cosigned_ago);
    let saved = answers[0].clone();

    // Polled: the checkpoint goes stale (older than 2 s), then the timer
    // (every 4 s) has it cosigned again and it is REPRODUCED once more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut stale = None;
    let mut fresh_again = None;
    while std::time::Instant::now() < deadline && fresh_again.is_none() {
        let (report, _) = online();
        match report.verdict {
            Verdict::LogError => stale = Some(report.log_errors.join("; ")),
            Verdict::Reproduced if stale.is_some() => fresh_again = Some(report),
            Verdict::Reproduced => {}
            other => panic!("{other:?}: {:?}", report.log_errors),
        }
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    let stale = stale.expect("the checkpoint went stale");
    assert!(
        stale.contains("last cosigned by the witness quorum")
            && stale.contains("longer than the policy's max-age of 2 s"),
        "{stale}"
    );
    let fresh_again = fresh_again.expect("the timer cosigned the checkpoint again");
    assert!(fresh_again.cosigned_ago[0].1 <= 2);
    let (_, note) = server.get("/checkpoint");
    let cp = LogVerifier::with_witnesses(
        key.clone(),
        WitnessQuorum::parse(&std::fs::read_to_string(&policy_file).unwrap()).unwrap(),
    )
    .open(&note)
    .unwrap();
    assert_eq!(cp.size, 1, "no new entry was needed");

    // The answer saved at the start is checked against the time of its own
    // cosignature: stale now.
    let (offline, _) =
        verify::verify(subject, &policy, Source::Offline { bundle: &saved }).unwrap();
    assert_eq!(offline.verdict, Verdict::LogError);
    assert!(
        offline.log_errors[0].contains("ago, longer than"),
        "{:?}",
        offline.log_errors
    );

    // Without its witness the log cannot refresh: it goes stale and stays so.
    drop(w);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (report, _) = online();
        if report.verdict == Verdict::LogError {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never went stale");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(
        online().0.verdict,
        Verdict::LogError,
        "stale while the witness is away"
    );
}

/// Debian's sigsum-go tools: `$REPROLOG_SIGSUM`, else installed by the
/// project's script into .cache/sigsum.
fn sigsum_bin() -> PathBuf {
    installed_tool("REPROLOG_SIGSUM", "sigsum.sh")
}

/// An Ed25519 public key in OpenSSH's one-line format (RFC 4253 §6.6 blob).
fn openssh_public_key(key: &[u8; 32]) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &key[..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {} log\n",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Interop: a log with a Sigsum origin is cosigned by Debian's
/// `sigsum-witness` (Go, sigsum-go) and by `reprolog-server witness`; the
/// client accepts the checkpoint under a policy requiring both, and our
/// witness's cosignature verifies independently.
#[test]
fn sigsum_witness_and_ours_cosign_one_log() {
    let bin = sigsum_bin();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("log");
    let out = run(Command::new(BIN)
        .args(["init", "--sigsum-origin", "--data"])
        .arg(&data));
    let key = Verifier::from_key_text(&out).unwrap();
    let expected_origin = format!(
        "sigsum.org/v1/tree/{}",
        Hash::of(&key.public_key()).to_hex()
    );
    assert_eq!(key.name(), expected_origin);

    // sigsum-witness: its own key, our log's key in OpenSSH format.
    std::fs::write(d.join("log.pub"), openssh_public_key(&key.public_key())).unwrap();
    run(Command::new(bin.join("sigsum-key"))
        .args(["generate", "-o"])
        .arg(d.join("sw")));
    let hash = run(Command::new(bin.join("sigsum-key"))
        .arg("to-hash")
        .arg("-k")
        .arg(d.join("sw.pub")));
    let sw_name = format!("sigsum.org/v1/witness/{hash}");
    let sw_vkey = run(Command::new(bin.join("sigsum-key"))
        .args(["to-vkey", "-t", "cosignature/v1", "-n", &sw_name, "-k"])
        .arg(d.join("sw.pub")));
    // sigsum-witness serves one log per process: one for the log, one (same
    // witness key) for its index log.
    let index_key = index_key(&data);
    std::fs::write(
        d.join("index.pub"),
        openssh_public_key(&index_key.public_key()),
    )
    .unwrap();
    let (sigsum, sw_url) = start_sigsum_witness(&bin, d, "log");
    let (sigsum_index, sw_index_url) = start_sigsum_witness(&bin, d, "index");

    // Our witness, for the same log.
    let ours = witness_key(d, "witness.test/w1");
    std::fs::write(
        d.join("logs"),
        format!(
            "log {}\nindex {}\n",
            key.to_key_text(),
            index_key.to_key_text()
        ),
    )
    .unwrap();
    let w = WitnessProcess::start(d);

    let witnesses = format!(
        "witness sigsum {sw_vkey} {sw_url}\nwitness ours {} {}\n",
        ours.to_key_text(),
        w.url
    );
    let policy_file = d.join("witness-policy");
    std::fs::write(
        &policy_file,
        format!("{witnesses}group both all sigsum ours\nquorum both\n"),
    )
    .unwrap();
    // The same witnesses for the index log, the Sigsum one at its second URL.
    let index_policy_file = d.join("index-witness-policy");
    std::fs::write(
        &index_policy_file,
        format!(
            "witness sigsum {sw_vkey} {sw_index_url}\nwitness ours {} {}\ngroup both all sigsum ours\nquorum both\n",
            ours.to_key_text(),
            w.url
        ),
    )
    .unwrap();
    let server = TestServer::start(
        &data,
        &key,
        &[
            "--witness-policy",
            policy_file.to_str().unwrap(),
            "--index-witness-policy",
            index_policy_file.to_str().unwrap(),
        ],
    );
    let rebuilder = Signer::generate("rebuilder.test").unwrap();
    let subject = Hash::of(b"a binary both witnesses saw");
    server.submit(&entry_for(&rebuilder, "bin", Hash::of(b"first"), true));
    server.submit(&entry_for(&rebuilder, "bin", subject, true));

    let (_, note) = server.get("/checkpoint");
    let note = String::from_utf8(note).unwrap();
    assert!(note.contains(&format!("\n— {sw_name} ")), "{note}");
    assert!(note.contains("\n— witness.test/w1 "), "{note}");
    // Both cosign the index log too (its own Sigsum origin).
    let (_, index_note) = server.get("/index/checkpoint");
    let index_note = String::from_utf8(index_note).unwrap();
    assert!(
        index_note.starts_with(&format!(
            "sigsum.org/v1/tree/{}\n",
            Hash::of(&index_key.public_key()).to_hex()
        )),
        "{index_note}"
    );
    assert!(
        index_note.contains(&format!("\n— {sw_name} ")),
        "{index_note}"
    );
    assert!(index_note.contains("\n— witness.test/w1 "), "{index_note}");

    // Under a 1-of-1 policy of the Sigsum witness, with the index, the
    // client says REPRODUCED.
    let client_policy = Policy::parse(&format!(
        "log {} {}\nindex {}\n{witnesses}rebuilder r {}\nconsensus r\nquorum sigsum\n",
        key.to_key_text(),
        server.url,
        index_key.to_key_text(),
        rebuilder.verifier().to_key_text()
    ))
    .unwrap();
    let memory = CheckpointMemory::new(&d.join("client"));
    let (report, _) =
        verify::verify(subject, &client_policy, Source::Online { memory: &memory }).unwrap();
    assert_eq!(
        report.verdict,
        Verdict::Reproduced,
        "{:?}",
        report.log_errors
    );

    // Our witness's line, checked without our code.
    let cp = LogVerifier::new(key.clone()).open(note.as_bytes()).unwrap();
    let ours_line = note
        .lines()
        .find(|l| l.starts_with("— witness.test/w1 "))
        .unwrap();
    check_independently(d, &ours, &cp.to_text(), ours_line);

    assert_eq!(report.proven_complete, vec![server.url.clone()]);
    for mut process in [sigsum, sigsum_index] {
        let _ = process.kill();
        let _ = process.wait();
    }
}

/// `sigsum-witness` with the key `d/sw` for the log whose OpenSSH public key
/// is `d/<name>.pub`, on a free port; returns it and its URL.
fn start_sigsum_witness(bin: &Path, d: &Path, name: &str) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin.join("sigsum-witness"))
        .arg("-k")
        .arg(d.join("sw"))
        .arg("--log-key")
        .arg(d.join(format!("{name}.pub")))
        .arg("--state-file")
        .arg(d.join(format!("sw-{name}.state")))
        .arg(format!("127.0.0.1:{port}"))
        .env("GODEBUG", "httpmuxgo121=0")
        .spawn()
        .expect("start sigsum-witness");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "sigsum-witness did not start");
    (child, format!("http://127.0.0.1:{port}"))
}
