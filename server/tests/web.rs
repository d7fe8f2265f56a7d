//! The web page at `/`, in a real browser (Debian's headless Chromium
//! driven through ChromeDriver) against a real log on 127.0.0.1: the three
//! verdicts, a dropped and a picked file, a pasted policy kept in
//! localStorage, the JavaScript verifier run on proto's test vectors, and a
//! lying server whose tampered proof must be a visible verification failure.

mod browser;
mod common;

use browser::Browser;
use common::*;
use reprolog_proto::note::Signer;
use reprolog_proto::Hash;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The demo's shape: three rebuilders, any two of which make a consensus.
struct Demo {
    _dir: tempfile::TempDir,
    server: TestServer,
    /// (label, file contents, expected verdict)
    files: Vec<(&'static str, Vec<u8>, &'static str)>,
    policy: String,
}

fn demo_log() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let key = init(&data);
    let signers: Vec<(&str, Signer)> = ["alpha", "beta", "gamma"]
        .into_iter()
        .map(|n| (n, Signer::generate(&format!("{n}.demo")).unwrap()))
        .collect();
    let mut policy = format!("log {} http://127.0.0.1:1\n", key.to_key_text());
    for (n, s) in &signers {
        policy += &format!("rebuilder {n} {}\n", s.verifier().to_key_text());
    }
    policy += "group trusted 2 alpha beta gamma\nconsensus trusted\nquorum none\n";
    let policy_file = dir.path().join("policy");
    std::fs::write(&policy_file, &policy).unwrap();
    let server = TestServer::start(&data, &key, &["--policy", policy_file.to_str().unwrap()]);
    let files = vec![
        (
            "gofmt",
            b"gofmt, as Go 1.27.3 ships it".to_vec(),
            "REPRODUCED",
        ),
        (
            "hello",
            b"hello v1.0.0, flipped byte".to_vec(),
            "INSUFFICIENT",
        ),
        (
            "tampered",
            b"hello built from a tampered module".to_vec(),
            "CONTESTED",
        ),
    ];
    let by = |i: usize| &signers[i].1;
    let d = |i: usize| Hash::of(&files[i].1);
    for (signer, file, reproduced) in [
        (by(0), 0, true),
        (by(1), 0, true),
        (by(2), 0, true),
        (by(2), 1, true),
        (by(0), 2, false),
        (by(1), 2, false),
    ] {
        server.submit(&entry_for(signer, files[file].0, d(file), reproduced));
    }
    Demo {
        _dir: dir,
        server,
        files,
        policy,
    }
}

fn verdict_of(b: &Browser, digest: &str) -> String {
    b.wait_for(
        &format!("document.getElementById('result').dataset.digest === '{digest}' && document.getElementById('result').dataset.state === 'done' && document.getElementById('result').dataset.verdict"),
        WAIT,
    )
    .as_str()
    .unwrap()
    .to_string()
}

fn ready(b: &Browser) {
    b.wait_for("document.body.dataset.ready === 'true'", WAIT);
}

#[test]
fn the_page_shows_each_verdict_and_finds_dropped_files() {
    let demo = demo_log();
    let url = &demo.server.url;
    // The page and its files carry a CSP that allows only this origin.
    let resp = agent().get(&format!("{url}/")).call().unwrap();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let (_, html) = demo.server.get("/");
    let html = String::from_utf8(html).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external requests"
    );

    let b = Browser::start(1000, 1300);
    let shots = std::env::var_os("REPROLOG_SCREENSHOTS").map(std::path::PathBuf::from);
    for (label, bytes, expected) in &demo.files {
        let digest = Hash::of(bytes).to_hex();
        b.goto(&format!("{url}/#sha256:{digest}"));
        ready(&b);
        assert_eq!(verdict_of(&b, &digest), *expected, "{label}");
        let text = b.exec(
            "return document.getElementById('result').innerText;",
            json!([]),
        );
        assert!(
            text.as_str().unwrap().contains("Verified in this browser"),
            "{text}"
        );
        if let Some(dir) = &shots {
            b.screenshot(&dir.join(format!("web-{}.png", expected.to_lowercase())));
        }
    }

    // The mismatch list comes first and names the contested digest.
    let contested = Hash::of(&demo.files[2].1).to_hex();
    let badge = b.wait_for(
        &format!("(() => {{ const li = document.querySelector('#mismatch-list li[data-digest=\"{contested}\"] .badge'); return li && li.textContent !== '…' && li.textContent; }})()"),
        WAIT,
    );
    assert_eq!(badge, json!("CONTESTED"));
    let rebuilders = b.exec(
        "return document.getElementById('rebuilder-rows').innerText;",
        json!([]),
    );
    assert!(
        rebuilders.as_str().unwrap().contains("gamma.demo"),
        "{rebuilders}"
    );

    // A file dropped on the page is hashed there and found.
    b.goto(&format!("{url}/"));
    ready(&b);
    let dropped: Vec<u8> = demo.files[0].1.clone();
    b.exec(
        "const dt = new DataTransfer();
         dt.items.add(new File([new Uint8Array(arguments[0])], 'gofmt'));
         document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));",
        json!([dropped]),
    );
    assert_eq!(
        verdict_of(&b, &Hash::of(&demo.files[0].1).to_hex()),
        "REPRODUCED"
    );
    // And a file picked with the file chooser.
    let picked = demo._dir.path().join("tampered");
    std::fs::write(&picked, &demo.files[2].1).unwrap();
    b.send_keys("#file", picked.to_str().unwrap());
    assert_eq!(verdict_of(&b, &contested), "CONTESTED");
    // The policy came from the log being checked: the page says so.
    let warned = b.exec(
        "return document.getElementById('policy-warning')?.textContent ?? '';",
        json!([]),
    );
    assert!(
        warned
            .as_str()
            .unwrap()
            .contains("policy served by the log"),
        "{warned}"
    );

    // A pasted policy is used and kept: with gamma alone trusted, the
    // INSUFFICIENT file is REPRODUCED, also after a reload.
    let gamma_only = demo.policy.replace(
        "group trusted 2 alpha beta gamma\nconsensus trusted",
        "consensus gamma",
    );
    b.exec(
        "document.getElementById('policy').value = arguments[0]; document.getElementById('policy-save').click();",
        json!([gamma_only]),
    );
    // The page is ready again once the pasted policy is in use.
    ready(&b);
    let hello = Hash::of(&demo.files[1].1).to_hex();
    b.goto(&format!("{url}/#sha256:{hello}"));
    ready(&b);
    assert_eq!(verdict_of(&b, &hello), "REPRODUCED");
    let warned = b.exec(
        "return document.getElementById('policy-warning') === null;",
        json!([]),
    );
    assert_eq!(
        warned,
        json!(true),
        "the user's own policy needs no warning"
    );
    let kept = b.exec("return localStorage.getItem('reprolog.policy');", json!([]));
    assert_eq!(kept, json!(gamma_only));

    // Text from entries is shown as text: markup in a file name or a
    // rebuilder's name is not markup on the page.
    let crafted = Signer::generate("<img src=x onerror=window.pwned=1>")
        .unwrap_or_else(|_| Signer::generate("crafted.example").unwrap());
    let bait = Hash::of(b"bait");
    demo.server.submit(&entry_for(
        &crafted,
        "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>",
        bait,
        true,
    ));
    // A new document (not a hash change), so the lists are read afresh.
    b.goto(&format!("{url}/?fresh#sha256:{}", bait.to_hex()));
    ready(&b);
    assert_eq!(verdict_of(&b, &bait.to_hex()), "INSUFFICIENT");
    let markup = b.exec(
        "return [window.pwned === undefined, document.querySelectorAll('#result img, #result script, #recent img, #recent script').length, document.getElementById('recent-rows').innerText.includes('<img src=x')];",
        json!([]),
    );
    assert_eq!(markup, json!([true, 0, true]));

    // One entry's own URL shows it, verified.
    b.goto(&format!("{url}/#entry:3"));
    ready(&b);
    b.wait_for(
        "document.getElementById('result').dataset.state === 'done'",
        WAIT,
    );
    let entry = b.exec(
        "return document.getElementById('result').innerText;",
        json!([]),
    );
    let entry = entry.as_str().unwrap();
    assert!(
        entry.contains("Entry 3") && entry.contains(&hello),
        "{entry}"
    );
}

/// A slow lookup started first must not overwrite the answer to the one the
/// user asked for after it.
#[test]
fn a_slower_earlier_lookup_does_not_overwrite_the_latest() {
    let demo = demo_log();
    let b = Browser::start(1000, 800);
    b.goto(&format!("{}/", demo.server.url));
    ready(&b);
    let contested = Hash::of(&demo.files[2].1).to_hex();
    let reproduced = Hash::of(&demo.files[0].1).to_hex();
    // The contested file's lookup answers 1.5 s late; the other at once.
    b.exec(
        "const slow = arguments[0];
         const real = window.fetch;
         window.fetch = (path, opts) => String(path).includes(slow)
           ? new Promise((r) => setTimeout(r, 1500)).then(() => real(path, opts))
           : real(path, opts);
         window.slowDone = false;
         location.hash = '#sha256:' + slow;
         setTimeout(() => { location.hash = '#sha256:' + arguments[1]; }, 50);
         setTimeout(() => { window.slowDone = true; }, 2500);",
        json!([contested, reproduced]),
    );
    assert_eq!(verdict_of(&b, &reproduced), "REPRODUCED");
    b.wait_for("window.slowDone === true", WAIT);
    let shown = b.exec(
        "const r = document.getElementById('result'); return [r.dataset.digest, r.dataset.verdict, r.innerText.includes(arguments[0])];",
        json!([reproduced]),
    );
    assert_eq!(shown, json!([reproduced, "REPRODUCED", true]));
}

#[test]
fn the_pages_verifier_agrees_with_protos_vectors() {
    let demo = demo_log();
    let vectors: Value =
        serde_json::from_str(include_str!("../../proto/testdata/web-vectors.json")).unwrap();
    let b = Browser::start(800, 600);
    b.goto(&format!("{}/", demo.server.url));
    ready(&b);
    let results = b.exec_async(
        r#"
        const [v, done] = arguments;
        const R = window.reprolog;
        const out = {};
        const ok = async (p) => { try { await p; return true; } catch (e) { return e.message; } };
        (async () => {
          const noteKey = await R.parseVkey(v.note.vkey);
          out.note = await ok(R.openNote(v.note.note, [noteKey]).then((r) => { if (r.signed.length !== 1) throw new Error("unsigned"); }));
          const witnessed = await R.parsePolicy(v.checkpoint.policyWitnessed);
          const none = await R.parsePolicy(v.checkpoint.policyNone);
          const log = witnessed.logs[0].key;
          out.cosigned = await ok(R.openCheckpoint(v.checkpoint.cosigned, log, witnessed));
          out.logOnlyUnderQuorum = await ok(R.openCheckpoint(v.checkpoint.logOnly, log, witnessed));
          out.logOnlyUnderNone = await ok(R.openCheckpoint(v.checkpoint.logOnly, log, none));
          out.forged = await ok(R.openCheckpoint(v.checkpoint.forgedCosignature, log, witnessed));
          out.stale = await ok(R.openCheckpoint(v.checkpoint.cosigned, log, await R.parsePolicy(v.checkpoint.policyDefaultAge)));
          out.inclusion = [];
          for (const c of v.inclusion) {
            out.inclusion.push(await ok(R.verifyInclusion(c.index, c.size, R.b64decode(c.leaf), c.proof.map(R.b64decode), R.b64decode(c.root))));
          }
          const entry = await R.openEntry(R.b64decode(v.entry.cbor));
          out.entryKey = entry.key;
          out.entrySubject = R.describe(entry.statement).subject;
          out.badEntry = await ok(R.openEntry(R.b64decode(v.entry.badSignature)));
          const assessed = await R.assess([v.lookup.page], v.lookup.digest, witnessed, v.checkpoint.origin);
          out.verdict = assessed.verdict;
          out.tampered = await ok(R.assess([v.lookup.tampered], v.lookup.digest, witnessed, v.checkpoint.origin));
          out.wrongDigest = await ok(R.assess([v.lookup.page], v.lookup.other, witnessed, v.checkpoint.origin));
          // The verifiable index: lists proven whole, or the answer refused.
          const indexed = await R.parsePolicy(v.index.policy);
          const withIndex = (page, digest) => R.assess([page], digest, indexed, v.checkpoint.origin, v.index.keys);
          const honest = await withIndex(v.index.page, v.lookup.digest);
          out.indexVerdict = [honest.verdict, honest.proven];
          const absent = await withIndex(v.index.absent, v.lookup.other);
          out.indexAbsent = [absent.verdict, absent.proven];
          out.indexDropped = await ok(withIndex(v.index.dropped, v.lookup.digest));
          out.indexLied = await ok(withIndex(v.index.lied, v.lookup.digest));
          out.indexMissing = await ok(withIndex(v.lookup.page, v.lookup.digest));
          done(out);
        })().catch((e) => done({ error: e.message }));
        "#,
        json!([vectors]),
    );
    assert_eq!(results["error"], Value::Null, "{results}");
    assert_eq!(results["note"], json!(true), "{results}");
    assert_eq!(
        results["indexVerdict"],
        json!(["REPRODUCED", true]),
        "{results}"
    );
    assert_eq!(
        results["indexAbsent"],
        json!(["INSUFFICIENT", true]),
        "{results}"
    );
    assert!(
        results["indexDropped"]
            .as_str()
            .unwrap()
            .contains("leaves it out"),
        "{results}"
    );
    assert!(
        results["indexLied"]
            .as_str()
            .unwrap()
            .starts_with("index proof:"),
        "{results}"
    );
    assert!(
        results["indexMissing"]
            .as_str()
            .unwrap()
            .contains("carries no index proof"),
        "{results}"
    );
    assert_eq!(results["cosigned"], json!(true), "{results}");
    assert!(results["logOnlyUnderQuorum"]
        .as_str()
        .unwrap()
        .contains("witness quorum"));
    assert_eq!(results["logOnlyUnderNone"], json!(true));
    // The vectors' cosignature is long past: under the default max-age (a
    // day) the page refuses the checkpoint, as the client does.
    assert!(results["stale"]
        .as_str()
        .unwrap()
        .contains("longer than the policy's max-age of 86400 s"));
    assert!(results["forged"]
        .as_str()
        .unwrap()
        .contains("invalid signature"));
    for (case, got) in vectors["inclusion"]
        .as_array()
        .unwrap()
        .iter()
        .zip(results["inclusion"].as_array().unwrap())
    {
        assert_eq!(
            got == &json!(true),
            case["valid"].as_bool().unwrap(),
            "{case} → {got}"
        );
    }
    assert_eq!(results["entryKey"], vectors["entry"]["key"]);
    assert_eq!(results["entrySubject"], vectors["entry"]["subject"]);
    assert!(results["badEntry"].as_str().unwrap().contains("DSSE"));
    assert_eq!(results["verdict"], vectors["lookup"]["reproducedWith2"]);
    assert!(results["tampered"]
        .as_str()
        .unwrap()
        .contains("inclusion proof"));
    assert!(results["wrongDigest"]
        .as_str()
        .unwrap()
        .contains("another file"));
}

/// A server that relays everything to the log but flips a byte of the
/// first inclusion proof of every lookup answer.
fn lying_proxy(upstream: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let upstream = upstream.clone();
            std::thread::spawn(move || relay(conn, &upstream));
        }
    });
    format!("http://{addr}")
}

fn relay(mut conn: std::net::TcpStream, upstream: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let mut resp = agent().get(&format!("{upstream}{path}")).call().unwrap();
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = ["content-type", "content-security-policy"]
        .iter()
        .filter_map(|h| {
            resp.headers()
                .get(*h)
                .map(|v| (h.to_string(), v.to_str().unwrap().to_string()))
        })
        .collect();
    let mut body = Vec::new();
    resp.body_mut().as_reader().read_to_end(&mut body).unwrap();
    if path.starts_with("/lookup/") && status == 200 {
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        if let Some(first) = v["entries"][0]["inclusionProof"][0].as_str() {
            let mut h = Hash::from_base64(first).unwrap();
            h.0[0] ^= 1;
            v["entries"][0]["inclusionProof"][0] = json!(h.to_base64());
        }
        body = serde_json::to_vec(&v).unwrap();
    }
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

#[test]
fn a_tampered_proof_is_a_visible_verification_failure() {
    let demo = demo_log();
    let liar = lying_proxy(demo.server.url.clone());
    let b = Browser::start(1000, 1000);
    let digest = Hash::of(&demo.files[0].1).to_hex();
    b.goto(&format!("{liar}/#sha256:{digest}"));
    ready(&b);
    assert_eq!(verdict_of(&b, &digest), "VERIFICATION FAILED");
    let text = b.exec(
        "return document.getElementById('result').innerText;",
        json!([]),
    );
    let text = text.as_str().unwrap();
    assert!(
        text.contains("inclusion proof") && text.contains("No verdict"),
        "{text}"
    );
    assert!(
        !text.contains("REPRODUCED") && !text.contains("Verified in this browser"),
        "{text}"
    );
    // The same page from the honest log says REPRODUCED.
    b.goto(&format!("{}/#sha256:{digest}", demo.server.url));
    ready(&b);
    assert_eq!(verdict_of(&b, &digest), "REPRODUCED");

    // On a phone-sized screen nothing runs off the side: wide tables scroll
    // inside their own box.
    let phone = Browser::start(390, 844);
    phone.goto(&format!("{}/#sha256:{digest}", demo.server.url));
    ready(&phone);
    assert_eq!(verdict_of(&phone, &digest), "REPRODUCED");
    let overflow = phone.exec(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        json!([]),
    );
    assert_eq!(overflow, json!(0), "the page is wider than a phone");
}
