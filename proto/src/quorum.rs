//! The witness part of a trust policy: which witnesses exist, how they are
//! grouped, and which group or witness must cosign a checkpoint
//! (C2SP tlog-witness; the policy text is read by [`crate::policy`]).

use crate::note::Verifier;
use crate::threshold::{Group, Tree};
use std::collections::BTreeSet;

/// A witness: its policy name, its cosignature key and where it takes
/// `add-checkpoint` requests (C2SP tlog-witness submission prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessSpec {
    pub name: String,
    pub key: Verifier,
    pub url: Option<String>,
}

/// Which cosignatures a checkpoint needs: the witness part of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WitnessQuorum {
    pub witnesses: Vec<WitnessSpec>,
    /// Groups of witnesses.
    pub groups: Vec<Group>,
    /// The witness or group that must cosign; `None` is `quorum none`.
    pub quorum: Option<String>,
}

impl WitnessQuorum {
    /// No cosignature needed (`quorum none`).
    pub fn none() -> WitnessQuorum {
        WitnessQuorum::default()
    }

    /// Whether any cosignature is required.
    pub fn is_none(&self) -> bool {
        self.quorum.is_none()
    }

    /// The witnesses' verifier keys.
    pub fn keys(&self) -> Vec<Verifier> {
        self.witnesses.iter().map(|w| w.key.clone()).collect()
    }

    /// The policy name of the witness with this key (name and key ID).
    pub fn witness_named(&self, key_name: &str, key_id: u32) -> Option<&WitnessSpec> {
        self.witnesses
            .iter()
            .find(|w| w.key.name() == key_name && w.key.key_id() == key_id)
    }

    /// Whether the quorum is met when exactly the witnesses named in
    /// `cosigned` (policy names) have cosigned, each counted once however
    /// many groups name it. (Witness keys are distinct, so a name is a key.)
    pub fn is_met(&self, cosigned: &BTreeSet<String>) -> bool {
        match &self.quorum {
            None => true,
            Some(q) => Tree::new(q, &self.groups, &|n: &str| n.to_string())
                .is_some_and(|t| t.met(cosigned)),
        }
    }
}
