//! in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)
//! carrying SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance) for a Go
//! rebuild, with reprolog's own `buildType`.
//!
//! The subject is the binary that was checked; the `rebuilt` byproduct is what the
//! rebuilder produced. The verdict is derived, never asserted:
//! reproduced ⇔ rebuilt digest == subject digest.

use crate::hash::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PROVENANCE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The buildType of a reprolog Go rebuild.
pub const GO_REBUILD_TYPE: &str = "https://reprolog.dev/go-rebuild/v1";
/// Name of the byproduct holding the rebuilt binary's digest.
pub const REBUILT_BYPRODUCT: &str = "rebuilt";

/// The names a Go rebuild statement uses inside its resource descriptors,
/// written by the rebuilder and read by the rebuilder and the client.
pub mod vocab {
    /// `resolvedDependencies` entry: where the source came from.
    pub const SOURCE: &str = "source";
    /// `resolvedDependencies` entry: the Go toolchain.
    pub const TOOLCHAIN: &str = "toolchain";
    /// `resolvedDependencies` entries: the modules linked in.
    pub const DEP: &str = "dep";
    /// Digest algorithms.
    pub const SHA256: &str = "sha256";
    pub const GIT_COMMIT: &str = "gitCommit";
    /// A Go module's `h1:` directory hash.
    pub const DIR_HASH: &str = "dirHash";
    /// Annotations.
    pub const KIND: &str = "kind";
    pub const REPLACES: &str = "replaces";
    pub const DIGEST_SCHEME: &str = "digestScheme";
    /// The inferred flag that carries `-ldflags`.
    pub const LDFLAGS: &str = "-ldflags";
}

/// What a `source` dependency is (its `kind` annotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The Go distribution itself (the binary is part of it).
    GoDistribution,
    /// A module version from a module proxy.
    Module,
    /// A version-control revision.
    Vcs,
    /// A build whose source the binary does not identify.
    Unidentified,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GoDistribution => "go-distribution",
            SourceKind::Module => "module",
            SourceKind::Vcs => "vcs",
            SourceKind::Unidentified => "unidentified",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        [
            SourceKind::GoDistribution,
            SourceKind::Module,
            SourceKind::Vcs,
            SourceKind::Unidentified,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Why a statement was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("statement is not valid JSON for a Go rebuild provenance: {0}")]
    Json(String),
    #[error("statement {field} is {got:?}, expected {expected:?}")]
    WrongType {
        field: &'static str,
        got: String,
        expected: &'static str,
    },
    #[error("statement must have exactly one subject with a sha256 digest")]
    BadSubject,
    #[error("statement has no \"rebuilt\" byproduct with a sha256 digest")]
    NoRebuiltDigest,
}

/// A set of digests keyed by algorithm name (in-toto DigestSet).
pub type DigestSet = BTreeMap<String, String>;

/// in-toto ResourceDescriptor (the fields reprolog uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: DigestSet,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ResourceDescriptor {
    /// The `kind` annotation of a `source` dependency, if known.
    pub fn kind(&self) -> Option<SourceKind> {
        self.annotations
            .get(vocab::KIND)
            .and_then(|k| SourceKind::parse(k))
    }

    /// The git commit digest, if any.
    pub fn git_commit(&self) -> Option<&str> {
        self.digest.get(vocab::GIT_COMMIT).map(String::as_str)
    }

    /// The module `h1:` hash, if any.
    pub fn dir_hash(&self) -> Option<&str> {
        self.digest.get(vocab::DIR_HASH).map(String::as_str)
    }

    /// For a replaced module: `path@version` of the module it replaces.
    pub fn replaces(&self) -> Option<&str> {
        self.annotations.get(vocab::REPLACES).map(String::as_str)
    }
}

/// The Statement envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Provenance,
}

/// SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: GoBuildParameters,
    /// Where the rebuilder found the checked binary, when not as a file of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<InternalParameters>,
    #[serde(default)]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// The rebuilder's own context for a check (SLSA `internalParameters`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InternalParameters {
    /// The release archive the subject is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_in: Option<FoundIn>,
}

/// A release archive and the path of the subject inside it. The subject stays
/// the member binary (`subject[0]`); the archive is context, so `verify
/// ARCHIVE` can say where each member came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FoundIn {
    /// The archive's file name.
    pub name: String,
    /// `{sha256: <hex>}` of the archive.
    pub digest: DigestSet,
    /// The member's path inside the archive.
    pub path: String,
}

/// Everything a second rebuilder needs to repeat the build without the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GoBuildParameters {
    /// e.g. `go1.22.10`.
    pub go_version: String,
    /// Main package import path, e.g. `cmd/gofmt`.
    pub path: String,
    pub main_module: Module,
    /// Every recorded build setting, in the binary's order.
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// Flags Go did not record that the rebuilder had to infer.
    #[serde(default)]
    pub inferred: Vec<InferredFlag>,
}

/// A Go module coordinate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Module {
    pub path: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sum: String,
}

/// One `build` line of Go build info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

/// A flag the rebuilder inferred, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferredFlag {
    pub key: String,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: RunMetadata,
    #[serde(default)]
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMetadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub invocation_id: String,
    /// RFC 3339 UTC.
    pub started_on: String,
    pub finished_on: String,
}

fn sha256_of(d: &ResourceDescriptor) -> Option<Hash> {
    d.digest
        .get(vocab::SHA256)
        .and_then(|h| Hash::from_hex(h).ok())
}

impl Statement {
    /// The `source` dependency, if the statement has one.
    pub fn source(&self) -> Option<&ResourceDescriptor> {
        self.dependencies(vocab::SOURCE).next()
    }

    /// The `resolvedDependencies` entries named `name` (e.g. [`vocab::DEP`]).
    pub fn dependencies<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ResourceDescriptor> + 'a {
        self.predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .filter(move |d| d.name == name)
    }

    /// The `-ldflags` value the attesting rebuilder inferred, if non-empty.
    pub fn inferred_ldflags(&self) -> Option<&str> {
        self.predicate
            .build_definition
            .external_parameters
            .inferred
            .iter()
            .find(|f| f.key == vocab::LDFLAGS && !f.value.is_empty())
            .map(|f| f.value.as_str())
    }

    /// The smallest valid Go rebuild statement: a subject, the rebuilt digest and
    /// the builder, with placeholder build parameters. For tests and load
    /// generators; real rebuilders fill every field.
    #[cfg(any(test, feature = "test-support"))]
    pub fn minimal(file_name: &str, subject: Hash, rebuilt: Hash, builder_id: &str) -> Statement {
        let digest = |h: Hash| DigestSet::from([(vocab::SHA256.to_string(), h.to_hex())]);
        Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject: vec![ResourceDescriptor {
                name: file_name.into(),
                digest: digest(subject),
                ..Default::default()
            }],
            predicate_type: PROVENANCE_TYPE.into(),
            predicate: Provenance {
                build_definition: BuildDefinition {
                    internal_parameters: None,
                    build_type: GO_REBUILD_TYPE.into(),
                    external_parameters: GoBuildParameters {
                        go_version: "go1.22.10".into(),
                        path: "cmd/gofmt".into(),
                        settings: vec![Setting {
                            key: "-trimpath".into(),
                            value: "true".into(),
                        }],
                        inferred: vec![InferredFlag {
                            key: "-ldflags".into(),
                            value: "-w".into(),
                            reason: "no DWARF sections".into(),
                        }],
                        ..Default::default()
                    },
                    resolved_dependencies: vec![],
                },
                run_details: RunDetails {
                    builder: Builder {
                        id: builder_id.into(),
                    },
                    metadata: RunMetadata {
                        invocation_id: String::new(),
                        started_on: "2026-11-22T10:00:00Z".into(),
                        finished_on: "2026-11-22T10:01:00Z".into(),
                    },
                    byproducts: vec![ResourceDescriptor {
                        name: REBUILT_BYPRODUCT.into(),
                        digest: digest(rebuilt),
                        ..Default::default()
                    }],
                },
            },
        }
    }

    /// Parses and checks the fixed type fields, the single subject and the
    /// rebuilt byproduct.
    pub fn from_json(bytes: &[u8]) -> Result<Statement, StatementError> {
        let s: Statement =
            serde_json::from_slice(bytes).map_err(|e| StatementError::Json(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Compact JSON bytes (the DSSE payload).
    pub fn to_json(&self) -> Vec<u8> {
        // Plain data: serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn validate(&self) -> Result<(), StatementError> {
        let check = |field, got: &str, expected| {
            if got == expected {
                Ok(())
            } else {
                Err(StatementError::WrongType {
                    field,
                    got: got.chars().take(100).collect(),
                    expected,
                })
            }
        };
        check("_type", &self.statement_type, STATEMENT_TYPE)?;
        check("predicateType", &self.predicate_type, PROVENANCE_TYPE)?;
        check(
            "buildType",
            &self.predicate.build_definition.build_type,
            GO_REBUILD_TYPE,
        )?;
        self.subject_digest()?;
        self.rebuilt_digest()?;
        Ok(())
    }

    /// The digest of the binary that was checked.
    pub fn subject_digest(&self) -> Result<Hash, StatementError> {
        match self.subject.as_slice() {
            [one] => sha256_of(one).ok_or(StatementError::BadSubject),
            _ => Err(StatementError::BadSubject),
        }
    }

    /// The digest of what the rebuilder produced.
    pub fn rebuilt_digest(&self) -> Result<Hash, StatementError> {
        self.predicate
            .run_details
            .byproducts
            .iter()
            .find(|b| b.name == REBUILT_BYPRODUCT)
            .and_then(sha256_of)
            .ok_or(StatementError::NoRebuiltDigest)
    }

    /// The derived verdict: the rebuild produced exactly the subject's bytes.
    pub fn reproduced(&self) -> bool {
        matches!((self.subject_digest(), self.rebuilt_digest()), (Ok(a), Ok(b)) if a == b)
    }

    /// A digest of the build inputs (build type, parameters without the inferred
    /// reasons' wording, resolved dependencies): two rebuilders that repeated the
    /// same build agree on it.
    pub fn inputs_digest(&self) -> Hash {
        let def = &self.predicate.build_definition;
        let mut params = def.external_parameters.clone();
        for f in &mut params.inferred {
            f.reason.clear();
        }
        let canonical = serde_json::json!({
            "buildType": def.build_type,
            "externalParameters": params,
            "resolvedDependencies": def.resolved_dependencies,
        });
        Hash::of(canonical.to_string().as_bytes())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete, valid statement for tests across proto.
    pub(crate) fn sample(subject: Hash, rebuilt: Hash) -> Statement {
        Statement::minimal("gofmt", subject, rebuilt, "rebuilder.example")
    }

    #[test]
    fn verdict_is_derived_from_digests() {
        let a = Hash::of(b"a");
        let s = sample(a, a);
        assert!(s.reproduced());
        let back = Statement::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert!(!sample(a, Hash::of(b"b")).reproduced());
    }

    #[test]
    fn wrong_types_and_missing_digests_are_rejected() {
        let a = Hash::of(b"a");
        let mut s = sample(a, a);
        s.predicate.build_definition.build_type = "other".into();
        assert!(matches!(
            Statement::from_json(&s.to_json()),
            Err(StatementError::WrongType { .. })
        ));
        let mut s = sample(a, a);
        s.subject.push(s.subject[0].clone());
        assert_eq!(
            Statement::from_json(&s.to_json()),
            Err(StatementError::BadSubject)
        );
        let mut s = sample(a, a);
        s.predicate.run_details.byproducts.clear();
        assert_eq!(
            Statement::from_json(&s.to_json()),
            Err(StatementError::NoRebuiltDigest)
        );
        assert!(matches!(
            Statement::from_json(b"[1]"),
            Err(StatementError::Json(_))
        ));
    }

    #[test]
    fn inputs_digest_ignores_who_and_when_but_not_what() {
        let a = Hash::of(b"a");
        let s = sample(a, a);
        let mut other_node = sample(a, Hash::of(b"x"));
        other_node.predicate.run_details.builder.id = "other".into();
        other_node
            .predicate
            .build_definition
            .external_parameters
            .inferred[0]
            .reason = "wording".into();
        assert_eq!(s.inputs_digest(), other_node.inputs_digest());
        let mut different = sample(a, a);
        different
            .predicate
            .build_definition
            .external_parameters
            .go_version = "go1.27.3".into();
        assert_ne!(s.inputs_digest(), different.inputs_digest());
    }
}
