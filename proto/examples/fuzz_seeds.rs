//! Writes the small seed corpus of the fuzz targets (fuzz/seeds/<target>/):
//! one valid input of each format, so the fuzzers start from the real shape.
//!
//! Run: `cargo run -p reprolog-proto --features test-support --example fuzz_seeds -- fuzz/seeds`
//! (scripts/fuzz.sh does; the buildinfo seeds come from a Go binary there).

use reprolog_proto::checkpoint::Checkpoint;
use reprolog_proto::cosignature;
use reprolog_proto::entry::Entry;
use reprolog_proto::merkle::{self, Appender};
use reprolog_proto::note::{KeyType, Signer};
use reprolog_proto::statement::Statement;
use reprolog_proto::tile;
use reprolog_proto::witness::AddCheckpoint;
use reprolog_proto::Hash;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds CORPUS_DIR")?;
    let out = Path::new(&out);
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };

    // Archives: genuine shapes and the hostile ones the reader refuses, for
    // the reader alone and for the differential against Python.
    {
        use reprolog_proto::archive::craft::*;
        let go: &[u8] = b"\x7fELF\xff Go buildinf:";
        let plain = tar_of(&[("README", b"hi"), ("bin/app", go)]);
        let pax = pax_record("path", "bin/long-name") + &pax_record("size", "3");
        let mut with_pax = Vec::new();
        tar_entry(
            &mut with_pax,
            header("pax", pax.len() as u64, b'x', USTAR),
            pax.as_bytes(),
        );
        tar_entry(&mut with_pax, header("app", 0, b'0', V7), b"abc");
        with_pax.extend_from_slice(&[0; 1024]);
        let mut two_members = gz(&plain[..plain.len() - 1024]);
        two_members.extend(gz(&tar_of(&[("bin/app", b"evil")])));
        let zip = zip_of(&[("bin/app", go), ("README", b"hi")], |_, _| {});
        for target in ["archive", "archive_python"] {
            write(target, "craft.tar", &plain)?;
            write(target, "craft.tar.gz", &gz(&plain))?;
            write(target, "craft-pax.tar", &with_pax)?;
            write(target, "craft-two-members.tar.gz", &two_members)?;
            write(target, "craft.zip", &zip)?;
        }
    }

    // Fixed seeds, so the corpus is the same on every run.
    let log = Signer::from_seed("fuzz.example/log", &[7; 32])?;
    let rebuilder = Signer::from_seed("rebuilder.example", &[9; 32])?;

    let subject = Hash::of(b"a go binary");
    let st = Statement::minimal("gofmt", subject, subject, rebuilder.name());
    write("entry", "match", &Entry::sign(&st, &rebuilder).to_cbor())?;
    let st = Statement::minimal("vet", subject, Hash::of(b"other"), rebuilder.name());
    write("entry", "mismatch", &Entry::sign(&st, &rebuilder).to_cbor())?;
    // verdict: a statement as JSON, and fields separated by 0xff.
    write("verdict", "statement.json", &st.to_json())?;
    let parts: [&str; 9] = [
        "\u{0}app\u{202e}exe",
        "go1.22\x1b[2J",
        "example.com/x",
        "-ldflags",
        "-s -w",
        "a\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        "builder\r",
        "git+example.com/x@y",
        "",
    ];
    write("verdict", "fields", &parts.map(str::as_bytes).join(&0xffu8))?;

    let cp = Checkpoint {
        origin: log.name().to_string(),
        size: 1234,
        root: Hash::of(b"root"),
        extensions: vec!["ext line".into()],
    };
    write("note_checkpoint", "signed", cp.sign(&log)?.as_bytes())?;
    write("note_checkpoint", "text", cp.to_text().as_bytes())?;

    let policy = format!(
        "# trust policy\nlog {} http://127.0.0.1:8080\nrebuilder alpha {}\nrebuilder beta {}\ngroup builders 2 alpha beta\nconsensus builders\nquorum none\n",
        log.verifier().to_key_text(),
        rebuilder.verifier().to_key_text(),
        Signer::from_seed("beta", &[3; 32])?.verifier().to_key_text(),
    );
    write("policy", "two-of-two", policy.as_bytes())?;

    for (name, path) in [
        ("full", "tile/0/x001/x234/067"),
        ("partial", "tile/2/000.p/17"),
        ("entries", "tile/entries/005.p/255"),
    ] {
        write("tile_path", name, path.as_bytes())?;
    }
    let bundle = tile::encode_bundle(&[b"one".as_slice(), b"two".as_slice()])?;
    write("tile_path", "bundle", &bundle)?;

    // Proof seeds: size byte, index bytes, then the real proof's hashes.
    let empty: Vec<Hash> = Vec::new();
    let mut app = Appender::new(&empty, 0);
    for i in 0..13u64 {
        app.push(Hash::leaf(&i.to_be_bytes()))?;
    }
    let hashes = app.new_hashes().to_vec();
    let mut inclusion = vec![12, 5, 5];
    for h in merkle::inclusion_proof(5, 13, &hashes)? {
        inclusion.extend_from_slice(&h.0);
    }
    write("proofs", "inclusion", &inclusion)?;
    let mut consistency = vec![12, 7, 7];
    for h in merkle::consistency_proof(7, 13, &hashes)? {
        consistency.extend_from_slice(&h.0);
    }
    write("proofs", "consistency", &consistency)?;

    // Witness seeds: the fuzz target's log key, a request from 7 to 13, and
    // the checkpoint cosigned by the target's witness.
    let fuzz_log = Signer::from_seed("fuzz.example/log", &[1; 32])?;
    let fuzz_cp = Checkpoint {
        origin: fuzz_log.name().to_string(),
        size: 13,
        root: merkle::tree_hash(13, &hashes)?,
        extensions: vec![],
    };
    let signed = fuzz_cp.sign(&fuzz_log)?;
    let request = AddCheckpoint {
        old_size: 7,
        proof: merkle::consistency_proof(7, 13, &hashes)?,
        checkpoint: signed.clone().into_bytes(),
    };
    write("witness", "request", &request.to_body())?;
    let witness = Signer::of_type(KeyType::Cosignature, "fuzz.example/w", &[2; 32])?;
    let line = cosignature::cosign(&witness, &fuzz_cp.to_text(), 1_700_000_000)?.to_line();
    write("witness", "cosigned", format!("{signed}{line}").as_bytes())?;
    Ok(())
}
