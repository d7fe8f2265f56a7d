//! Rebuild reports as in-toto attestations, and back.
//!
//! A statement records every input a second rebuilder needs to repeat the build
//! without the original binary: the Go version and main package, the main module
//! coordinates, every recorded build setting in order, the flags that had to be
//! inferred, the source (module `h1:` sum, git commit or distribution), the
//! toolchain with its digest, and each dependency with its `h1:` sum.
//! [`target_from_statement`] turns such a statement back into a build.

use crate::buildinfo::{BuildInfo, Module as BiModule, Setting as BiSetting};
use crate::plan::Source;
use crate::rebuild::{RebuildReport, Target};
use reprolog_proto::statement::{
    vocab, BuildDefinition, Builder, DigestSet, GoBuildParameters, InferredFlag,
    InternalParameters, Module, Provenance, ResourceDescriptor, RunDetails, RunMetadata, Setting,
    SourceKind, Statement, GO_REBUILD_TYPE, PROVENANCE_TYPE, REBUILT_BYPRODUCT, STATEMENT_TYPE,
};
use std::collections::BTreeMap;

/// Scheme of the toolchain digest (see `toolchain.rs`).
pub const TOOLCHAIN_DIGEST_SCHEME: &str = "reprolog-goroot-v1";

fn kind(k: SourceKind) -> BTreeMap<String, String> {
    BTreeMap::from([(vocab::KIND.to_string(), k.as_str().to_string())])
}

fn digest(alg: &str, value: &str) -> DigestSet {
    DigestSet::from([(alg.to_string(), value.to_string())])
}

fn dep_descriptor(m: &BiModule) -> ResourceDescriptor {
    let (used, replaces) = match &m.replace {
        Some(r) => (r.as_ref(), Some(format!("{}@{}", m.path, m.version))),
        None => (m, None),
    };
    ResourceDescriptor {
        name: vocab::DEP.into(),
        uri: format!("pkg:golang/{}@{}", used.path, used.version),
        digest: if used.sum.is_empty() {
            DigestSet::new()
        } else {
            digest(vocab::DIR_HASH, &used.sum)
        },
        annotations: replaces
            .map(|r| BTreeMap::from([(vocab::REPLACES.to_string(), r)]))
            .unwrap_or_default(),
    }
}

/// The attestation for a rebuild by `builder_id`.
pub fn statement(report: &RebuildReport, builder_id: &str) -> Statement {
    let plan = &report.plan;
    let mut inferred: Vec<InferredFlag> = Vec::new();
    if let Some(c) = &report.inferred {
        inferred.push(InferredFlag {
            key: "-ldflags".into(),
            value: c.ldflags.clone().unwrap_or_default(),
            reason: c.reason.clone(),
        });
    }
    for (k, v) in &report.extra_env {
        inferred.push(InferredFlag {
            key: k.clone(),
            value: v.clone(),
            reason: "the recorded DefaultGODEBUG matches this build mode".into(),
        });
    }
    let source = match &plan.source {
        Source::Distribution => ResourceDescriptor {
            name: vocab::SOURCE.into(),
            uri: format!("https://go.dev/dl/{}", report.toolchain_version),
            digest: digest(vocab::SHA256, &report.toolchain_digest.to_hex()),
            annotations: kind(SourceKind::GoDistribution),
        },
        Source::Module { path, version, sum } => ResourceDescriptor {
            name: vocab::SOURCE.into(),
            uri: format!("pkg:golang/{path}@{version}"),
            digest: if sum.is_empty() {
                DigestSet::new()
            } else {
                digest(vocab::DIR_HASH, sum)
            },
            annotations: kind(SourceKind::Module),
        },
        Source::Unidentified { module } => ResourceDescriptor {
            name: vocab::SOURCE.into(),
            uri: format!("pkg:golang/{module}@(devel)"),
            digest: DigestSet::new(),
            annotations: kind(SourceKind::Unidentified),
        },
        Source::Vcs {
            vcs,
            revision,
            module,
        } => ResourceDescriptor {
            name: vocab::SOURCE.into(),
            uri: format!("{vcs}+{module}@{revision}"),
            digest: digest(vocab::GIT_COMMIT, revision),
            annotations: kind(SourceKind::Vcs),
        },
    };
    let toolchain = ResourceDescriptor {
        name: vocab::TOOLCHAIN.into(),
        uri: format!("https://go.dev/dl/{}", report.toolchain_version),
        digest: digest(vocab::SHA256, &report.toolchain_digest.to_hex()),
        annotations: BTreeMap::from([(
            vocab::DIGEST_SCHEME.into(),
            TOOLCHAIN_DIGEST_SCHEME.into(),
        )]),
    };
    let mut deps = vec![source, toolchain];
    deps.extend(plan.deps.iter().map(dep_descriptor));
    let main = plan
        .main_module
        .as_ref()
        .map(|m| Module {
            path: m.path.clone(),
            version: m.version.clone(),
            sum: m.sum.clone(),
        })
        .unwrap_or_default();
    Statement {
        statement_type: STATEMENT_TYPE.into(),
        subject: vec![ResourceDescriptor {
            name: report.file_name.clone(),
            digest: digest(vocab::SHA256, &report.subject.to_hex()),
            ..Default::default()
        }],
        predicate_type: PROVENANCE_TYPE.into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: GO_REBUILD_TYPE.into(),
                internal_parameters: report
                    .found_in
                    .clone()
                    .map(|f| InternalParameters { found_in: Some(f) }),
                external_parameters: GoBuildParameters {
                    go_version: plan.go_version.clone(),
                    path: plan.path.clone(),
                    main_module: main,
                    settings: plan
                        .settings
                        .iter()
                        .map(|s| Setting {
                            key: s.key.clone(),
                            value: s.value.clone(),
                        })
                        .collect(),
                    inferred,
                },
                resolved_dependencies: deps,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: builder_id.into(),
                },
                metadata: RunMetadata {
                    invocation_id: String::new(),
                    started_on: report.started.clone(),
                    finished_on: report.finished.clone(),
                },
                byproducts: vec![ResourceDescriptor {
                    name: REBUILT_BYPRODUCT.into(),
                    digest: digest(vocab::SHA256, &report.rebuilt.to_hex()),
                    ..Default::default()
                }],
            },
        },
    }
}

/// Why a statement cannot be turned back into a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FromStatementError {
    #[error("statement: {0}")]
    Statement(String),
}

/// The build an attestation describes, ready for [`crate::rebuild::rebuild_target`].
pub fn target_from_statement(st: &Statement) -> Result<Target, FromStatementError> {
    let subject = st
        .subject_digest()
        .map_err(|e| FromStatementError::Statement(e.to_string()))?;
    let p = &st.predicate.build_definition.external_parameters;
    let deps = st
        .dependencies(vocab::DEP)
        .filter_map(|d| {
            let coord = d.uri.strip_prefix("pkg:golang/")?;
            let (path, version) = coord.rsplit_once('@')?;
            let sum = d.dir_hash().unwrap_or_default().to_string();
            let used = BiModule {
                path: path.into(),
                version: version.into(),
                sum,
                replace: None,
            };
            Some(match d.replaces().and_then(|r| r.rsplit_once('@')) {
                Some((rpath, rversion)) => BiModule {
                    path: rpath.into(),
                    version: rversion.into(),
                    sum: String::new(),
                    replace: Some(Box::new(used)),
                },
                None => used,
            })
        })
        .collect();
    let main = (!p.main_module.path.is_empty()).then(|| BiModule {
        path: p.main_module.path.clone(),
        version: p.main_module.version.clone(),
        sum: p.main_module.sum.clone(),
        replace: None,
    });
    let info = BuildInfo {
        go_version: p.go_version.clone(),
        path: p.path.clone(),
        main,
        deps,
        settings: p
            .settings
            .iter()
            .map(|s| BiSetting {
                key: s.key.clone(),
                value: s.value.clone(),
            })
            .collect(),
    };
    let ldflags_hint = st.inferred_ldflags().map(str::to_string);
    Ok(Target {
        file_name: st
            .subject
            .first()
            .map_or_else(|| "binary".into(), |s| s.name.clone()),
        subject: crate::rebuild::Digest::known(subject),
        info,
        original: None,
        ldflags_hint,
        found_in: None,
    })
}
