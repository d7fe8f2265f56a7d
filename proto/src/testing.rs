//! Fixtures for other crates' tests and benches (the `test-support`
//! feature; release builds do not contain them): signed placeholder
//! attestations and the trust policy that counts them.

use crate::entry::Entry;
use crate::hash::Hash;
use crate::merkle::Appender;
use crate::note::Signer;
use crate::statement::Statement;

/// An entry by `signer` saying it rebuilt `subject` (reproduced or not).
pub fn attestation(signer: &Signer, name: &str, subject: Hash, reproduced: bool) -> Vec<u8> {
    let rebuilt = if reproduced {
        subject
    } else {
        Hash::of(b"a different binary")
    };
    Entry::sign(
        &Statement::minimal(name, subject, rebuilt, signer.name()),
        signer,
    )
    .to_cbor()
}

/// A policy for the log `log_vkey` at `url` trusting `rebuilders` with
/// threshold `k`, no witnesses.
pub fn policy(log_vkey: &str, url: &str, rebuilders: &[(&str, &Signer)], k: usize) -> String {
    let mut p = format!("log {log_vkey} {url}\n");
    for (name, s) in rebuilders {
        p += &format!("rebuilder {name} {}\n", s.verifier().to_key_text());
    }
    let names: Vec<&str> = rebuilders.iter().map(|(n, _)| *n).collect();
    p += &format!(
        "group trusted {k} {}\nconsensus trusted\nquorum none\n",
        names.join(" ")
    );
    p
}

/// Stored hashes (RFC 6962 node hashes, as the log's storage keeps them) of
/// a log of `size` records whose leaves are "r0", "r1", ...
pub fn tree(size: u64) -> Vec<Hash> {
    let mut stored: Vec<Hash> = Vec::new();
    for i in 0..size {
        let mut app = Appender::new(&stored, i);
        app.push(Hash::leaf(format!("r{i}").as_bytes()))
            .expect("a leaf appends");
        stored.extend(app.new_hashes().to_vec());
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn the_policy_parses_and_counts_the_rebuilders() {
        let a = Signer::generate("a.test").unwrap();
        let b = Signer::generate("b.test").unwrap();
        let log = Signer::generate("log.test").unwrap();
        let text = policy(
            &log.verifier().to_key_text(),
            "http://127.0.0.1:1",
            &[("a", &a), ("b", &b)],
            2,
        );
        let parsed = Policy::parse(&text).unwrap();
        assert_eq!(parsed.consensus_threshold(), 2);
        let entry = Entry::from_cbor(&attestation(&a, "app", Hash::of(b"x"), true)).unwrap();
        assert_eq!(entry.key, a.verifier().public_key());
    }
}
