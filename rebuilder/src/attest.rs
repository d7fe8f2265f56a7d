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
    BuildDefinition, Builder, DigestSet, GoBuildParameters, InferredFlag, Module, Provenance,
    ResourceDescriptor, RunDetails, RunMetadata, Setting, Statement, GO_REBUILD_TYPE,
    PROVENANCE_TYPE, REBUILT_BYPRODUCT, STATEMENT_TYPE,
};
use std::collections::BTreeMap;

/// Scheme of the toolchain digest (see `toolchain.rs`).
pub const TOOLCHAIN_DIGEST_SCHEME: &str = "reprolog-goroot-v1";

fn digest(alg: &str, value: &str) -> DigestSet {
    DigestSet::from([(alg.to_string(), value.to_string())])
}

fn dep_descriptor(m: &BiModule) -> ResourceDescriptor {
    let (used, replaces) = match &m.replace {
        Some(r) => (r.as_ref(), Some(format!("{}@{}", m.path, m.version))),
        None => (m, None),
    };
    ResourceDescriptor {
        name: "dep".into(),
        uri: format!("pkg:golang/{}@{}", used.path, used.version),
        digest: if used.sum.is_empty() {
            DigestSet::new()
        } else {
            digest("dirHash", &used.sum)
        },
        annotations: replaces
            .map(|r| BTreeMap::from([("replaces".to_string(), r)]))
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
            name: "source".into(),
            uri: format!("https://go.dev/dl/{}", report.toolchain_version),
            digest: digest("sha256", &report.toolchain_digest.to_hex()),
            annotations: BTreeMap::from([("kind".into(), "go-distribution".into())]),
        },
        Source::Module { path, version, sum } => ResourceDescriptor {
            name: "source".into(),
            uri: format!("pkg:golang/{path}@{version}"),
            digest: if sum.is_empty() {
                DigestSet::new()
            } else {
                digest("dirHash", sum)
            },
            annotations: BTreeMap::from([("kind".into(), "module".into())]),
        },
        Source::Unidentified { module } => ResourceDescriptor {
            name: "source".into(),
            uri: format!("pkg:golang/{module}@(devel)"),
            digest: DigestSet::new(),
            annotations: BTreeMap::from([("kind".into(), "unidentified".into())]),
        },
        Source::Vcs {
            vcs,
            revision,
            module,
        } => ResourceDescriptor {
            name: "source".into(),
            uri: format!("{vcs}+{module}@{revision}"),
            digest: digest("gitCommit", revision),
            annotations: BTreeMap::from([("kind".into(), "vcs".into())]),
        },
    };
    let toolchain = ResourceDescriptor {
        name: "toolchain".into(),
        uri: format!("https://go.dev/dl/{}", report.toolchain_version),
        digest: digest("sha256", &report.toolchain_digest.to_hex()),
        annotations: BTreeMap::from([("digestScheme".into(), TOOLCHAIN_DIGEST_SCHEME.into())]),
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
            digest: digest("sha256", &report.subject.to_hex()),
            ..Default::default()
        }],
        predicate_type: PROVENANCE_TYPE.into(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: GO_REBUILD_TYPE.into(),
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
                    digest: digest("sha256", &report.rebuilt.to_hex()),
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
        .predicate
        .build_definition
        .resolved_dependencies
        .iter()
        .filter(|d| d.name == "dep")
        .filter_map(|d| {
            let coord = d.uri.strip_prefix("pkg:golang/")?;
            let (path, version) = coord.rsplit_once('@')?;
            let sum = d.digest.get("dirHash").cloned().unwrap_or_default();
            let used = BiModule {
                path: path.into(),
                version: version.into(),
                sum,
                replace: None,
            };
            Some(
                match d
                    .annotations
                    .get("replaces")
                    .and_then(|r| r.rsplit_once('@'))
                {
                    Some((rpath, rversion)) => BiModule {
                        path: rpath.into(),
                        version: rversion.into(),
                        sum: String::new(),
                        replace: Some(Box::new(used)),
                    },
                    None => used,
                },
            )
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
    let ldflags_hint = p
        .inferred
        .iter()
        .find(|f| f.key == "-ldflags" && !f.value.is_empty())
        .map(|f| f.value.clone());
    Ok(Target {
        file_name: st
            .subject
            .first()
            .map_or_else(|| "binary".into(), |s| s.name.clone()),
        subject: crate::rebuild::Digest::known(subject),
        info,
        original: None,
        ldflags_hint,
    })
}
