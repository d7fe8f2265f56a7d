//! The client's trust policy: a line-based file extending C2SP tlog-policy
//! (https://c2sp.org/tlog-policy).
//!
//! ```text
//! # comments and blank lines are ignored
//! log <vkey> <url>
//! rebuilder <name> <vkey>
//! witness <name> <vkey>
//! group <name> <k|all|any> <member>...
//! quorum <group or rebuilder>
//! ```
//! Group members are rebuilders, witnesses or groups defined on earlier lines, so
//! groups nest without cycles. A group is satisfied when at least k of its members
//! are. The `quorum` line names what must be satisfied by the rebuilders whose
//! logged attestations say "reproduced".

use crate::note::{NoteError, Verifier};
use std::collections::{BTreeMap, BTreeSet};

/// Why a policy file was rejected; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("policy line {line}: bad key: {source}")]
    Key { line: usize, source: NoteError },
    #[error("policy has no log line")]
    NoLog,
    #[error("policy has no quorum line")]
    NoQuorum,
}

/// A log the client trusts to serve checkpoints and proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    pub key: Verifier,
    pub url: String,
}

/// A named public key (rebuilder or witness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedKey {
    pub name: String,
    pub key: Verifier,
}

/// A threshold group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub threshold: usize,
    pub members: Vec<String>,
}

/// A parsed, validated trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub logs: Vec<LogSpec>,
    pub rebuilders: Vec<NamedKey>,
    pub witnesses: Vec<NamedKey>,
    pub groups: Vec<Group>,
    pub quorum: String,
}

impl Policy {
    /// Parses a policy file.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut p = Policy {
            logs: vec![],
            rebuilders: vec![],
            witnesses: vec![],
            groups: vec![],
            quorum: String::new(),
        };
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut quorum_line = None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |reason: &str| PolicyError::Line {
                line,
                reason: reason.to_string(),
            };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split_whitespace().collect();
            let key = |text: &str| {
                Verifier::from_key_text(text).map_err(|source| PolicyError::Key { line, source })
            };
            let new_name = |names: &mut BTreeSet<String>, name: &str| {
                if !names.insert(name.to_string()) {
                    return Err(err(&format!("name {name:?} is defined twice")));
                }
                Ok(name.to_string())
            };
            match fields.as_slice() {
                ["log", vkey, url] => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(err("log URL must start with http:// or https://"));
                    }
                    p.logs.push(LogSpec {
                        key: key(vkey)?,
                        url: url.trim_end_matches('/').to_string(),
                    });
                }
                ["rebuilder", name, vkey] => {
                    let name = new_name(&mut names, name)?;
                    p.rebuilders.push(NamedKey {
                        name,
                        key: key(vkey)?,
                    });
                }
                ["witness", name, vkey] => {
                    let name = new_name(&mut names, name)?;
                    p.witnesses.push(NamedKey {
                        name,
                        key: key(vkey)?,
                    });
                }
                ["group", name, k, members @ ..] => {
                    if members.is_empty() {
                        return Err(err("group needs at least one member"));
                    }
                    for m in members {
                        if !names.contains(*m) {
                            return Err(err(&format!("group member {m:?} is not defined above")));
                        }
                    }
                    let unique: BTreeSet<&&str> = members.iter().collect();
                    if unique.len() != members.len() {
                        return Err(err("group lists a member twice"));
                    }
                    let threshold = match *k {
                        "all" => members.len(),
                        "any" => 1,
                        n => n
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=members.len()).contains(n))
                            .ok_or_else(|| err("threshold must be 1..=members, all or any"))?,
                    };
                    let name = new_name(&mut names, name)?;
                    p.groups.push(Group {
                        name,
                        threshold,
                        members: members.iter().map(|m| m.to_string()).collect(),
                    });
                }
                ["quorum", name] => {
                    if quorum_line.is_some() {
                        return Err(err("second quorum line"));
                    }
                    if !names.contains(*name) {
                        return Err(err(&format!("quorum {name:?} is not defined above")));
                    }
                    quorum_line = Some(line);
                    p.quorum = name.to_string();
                }
                [kw, ..] if ["log", "rebuilder", "witness", "group", "quorum"].contains(kw) => {
                    return Err(err(&format!("wrong number of fields for {kw}")));
                }
                [kw, ..] => return Err(err(&format!("unknown keyword {kw:?}"))),
                [] => {}
            }
        }
        if p.logs.is_empty() {
            return Err(PolicyError::NoLog);
        }
        if quorum_line.is_none() {
            return Err(PolicyError::NoQuorum);
        }
        Ok(p)
    }

    /// The rebuilder whose key is `public_key`, if trusted.
    pub fn rebuilder_for_key(&self, public_key: &[u8; 32]) -> Option<&NamedKey> {
        self.rebuilders
            .iter()
            .find(|r| &r.key.public_key() == public_key)
    }

    /// Whether the quorum is met when exactly the rebuilders and witnesses named in
    /// `satisfied` count.
    pub fn quorum_met(&self, satisfied: &BTreeSet<String>) -> bool {
        let groups: BTreeMap<&str, &Group> =
            self.groups.iter().map(|g| (g.name.as_str(), g)).collect();
        self.is_satisfied(&self.quorum, satisfied, &groups)
    }

    fn is_satisfied(
        &self,
        name: &str,
        satisfied: &BTreeSet<String>,
        groups: &BTreeMap<&str, &Group>,
    ) -> bool {
        match groups.get(name) {
            // Members are defined before their group, so this recursion ends.
            Some(g) => {
                g.members
                    .iter()
                    .filter(|m| self.is_satisfied(m, satisfied, groups))
                    .count()
                    >= g.threshold
            }
            None => satisfied.contains(name),
        }
    }

    /// The threshold of the quorum group (1 if the quorum is a single rebuilder).
    pub fn quorum_threshold(&self) -> usize {
        self.groups
            .iter()
            .find(|g| g.name == self.quorum)
            .map_or(1, |g| g.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Signer;
    use proptest::prelude::*;

    fn vkey(name: &str) -> String {
        Signer::from_seed(name, &[name.len() as u8; 32])
            .unwrap()
            .verifier()
            .to_key_text()
    }

    fn sample() -> String {
        format!(
            "# reprolog policy\nlog {} http://127.0.0.1:8080/\n\nrebuilder alice {}\nrebuilder bob {}  # comment\nrebuilder carol {}\ngroup core 2 alice bob carol\nquorum core\n",
            vkey("log"),
            vkey("alice"),
            vkey("bob"),
            vkey("carol")
        )
    }

    #[test]
    fn threshold_is_applied() {
        let p = Policy::parse(&sample()).unwrap();
        assert_eq!(p.logs[0].url, "http://127.0.0.1:8080");
        assert_eq!(p.quorum_threshold(), 2);
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(!p.quorum_met(&set(&["alice"])));
        assert!(p.quorum_met(&set(&["alice", "carol"])));
        assert!(!p.quorum_met(&set(&["alice", "mallory"])));
    }

    #[test]
    fn nested_groups() {
        let text = format!(
            "log {} https://log.example\nrebuilder a {}\nrebuilder b {}\nrebuilder c {}\ngroup ab any a b\ngroup top all ab c\nquorum top\n",
            vkey("log"), vkey("a"), vkey("b"), vkey("c")
        );
        let p = Policy::parse(&text).unwrap();
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(p.quorum_met(&set(&["b", "c"])));
        assert!(!p.quorum_met(&set(&["a", "b"])));
    }

    #[test]
    fn bad_policies_name_the_line() {
        let base = sample();
        let cases = [
            (base.replace("group core 2", "group core 4"), 7),
            (base.replace("group core 2", "group core 0"), 7),
            (base.replace("quorum core", "quorum nobody"), 8),
            (base.replace("rebuilder bob", "rebuilder alice"), 5),
            (base.replace("http://", "ftp://"), 2),
            (base.replace("rebuilder carol", "rebuilder carol extra"), 6),
            (
                base.replace("group core 2 alice bob carol", "group core 2 alice alice"),
                7,
            ),
            (base.replace("group core", "grup core"), 7),
        ];
        for (text, line) in cases {
            match Policy::parse(&text) {
                Err(PolicyError::Line { line: l, .. }) | Err(PolicyError::Key { line: l, .. }) => {
                    assert_eq!(l, line, "{text}")
                }
                other => panic!("expected line error, got {other:?} for {text}"),
            }
        }
        assert_eq!(
            Policy::parse(&base.replace("quorum core\n", "")),
            Err(PolicyError::NoQuorum)
        );
        let no_log: String = base
            .lines()
            .filter(|l| !l.starts_with("log"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Policy::parse(&no_log), Err(PolicyError::NoLog));
        let bad_key = base.replace(&vkey("bob"), "bob+00000000+AAAA");
        assert!(matches!(
            Policy::parse(&bad_key),
            Err(PolicyError::Key { line: 5, .. })
        ));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,200}") {
            let _ = Policy::parse(&s);
        }
    }
}
