//! Threshold groups evaluated with each key counted once.
//!
//! A policy's consensus (or witness quorum) names a member or a group; a
//! group is met when `k` of its members are. Members are names, and one key
//! may stand behind several leaves of that tree: a rebuilder listed in two
//! groups, or one key under two names. Counting it at every leaf would let
//! one rebuilder meet "two of these two groups" alone. Here a key is
//! *assigned* to at most one leaf: the tree is met when some assignment of
//! the present keys to leaves meets it. Hence (property-tested in
//! `policy.rs`): whenever it is met, at least [`Tree::min_keys`] distinct
//! keys are present.
//!
//! Only keys that stand at more than one leaf need choosing, and [`Tree`]
//! bounds how many assignments that can take (policies are small; a policy
//! that repeats keys past the bound is refused when parsed).

use std::collections::{BTreeMap, BTreeSet};

/// A threshold group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub threshold: usize,
    pub members: Vec<String>,
}

/// Most leaves in a tree once its groups are expanded.
pub(crate) const MAX_LEAVES: usize = 1000;
/// Most assignments of repeated keys to leaves tried.
pub(crate) const MAX_ASSIGNMENTS: u64 = 4096;

/// A policy's threshold tree with its groups expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<K> {
    Leaf(K),
    Group(usize, Vec<Node<K>>),
}

/// The tree under one name, with the key behind each leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tree<K> {
    root: Node<K>,
    /// Each leaf's key, in the order [`Node::eval`] visits them.
    leaves: Vec<K>,
}

impl<K: Ord + Clone> Tree<K> {
    /// The tree under `name`, leaves mapped to keys by `key_of`. `None`
    /// when it is too large to evaluate within the bounds above.
    pub(crate) fn new(name: &str, groups: &[Group], key_of: &dyn Fn(&str) -> K) -> Option<Tree<K>> {
        let mut leaves = Vec::new();
        let root = expand(name, groups, key_of, &mut leaves)?;
        let mut count: BTreeMap<&K, u64> = BTreeMap::new();
        for k in &leaves {
            *count.entry(k).or_default() += 1;
        }
        let assignments = count.values().try_fold(1u64, |acc, &n| {
            acc.checked_mul(n).filter(|&a| a <= MAX_ASSIGNMENTS)
        });
        assignments?;
        Some(Tree { root, leaves })
    }

    /// Whether the tree is met by the keys in `present`, each counted at
    /// one leaf at most.
    pub(crate) fn met(&self, present: &BTreeSet<K>) -> bool {
        // Where each present key could count.
        let mut places: BTreeMap<&K, Vec<usize>> = BTreeMap::new();
        for (i, k) in self.leaves.iter().enumerate() {
            if present.contains(k) {
                places.entry(k).or_default().push(i);
            }
        }
        let places: Vec<Vec<usize>> = places.into_values().collect();
        // Every assignment, as a mixed-radix counter over the choices.
        let mut choice = vec![0usize; places.len()];
        loop {
            let mut on = vec![false; self.leaves.len()];
            for (p, &c) in places.iter().zip(&choice) {
                on[p[c]] = true;
            }
            if self.root.eval(&on, &mut 0) {
                return true;
            }
            let mut i = 0;
            loop {
                if i == choice.len() {
                    return false;
                }
                choice[i] += 1;
                if choice[i] < places[i].len() {
                    break;
                }
                choice[i] = 0;
                i += 1;
            }
        }
    }

    /// The fewest distinct keys that can meet the tree: 1 for a leaf, the
    /// sum of the `k` smallest of its members' for a group.
    pub(crate) fn min_keys(&self) -> usize {
        self.root.min_keys()
    }
}

fn expand<K: Clone>(
    name: &str,
    groups: &[Group],
    key_of: &dyn Fn(&str) -> K,
    leaves: &mut Vec<K>,
) -> Option<Node<K>> {
    match groups.iter().find(|g| g.name == name) {
        None => {
            if leaves.len() >= MAX_LEAVES {
                return None;
            }
            leaves.push(key_of(name));
            Some(Node::Leaf(key_of(name)))
        }
        Some(g) => {
            let members = g
                .members
                .iter()
                .map(|m| expand(m, groups, key_of, leaves))
                .collect::<Option<Vec<_>>>()?;
            Some(Node::Group(g.threshold, members))
        }
    }
}

impl<K> Node<K> {
    /// Whether the node is met when exactly the leaves marked in `on` are;
    /// `next` is the index of this node's first leaf.
    fn eval(&self, on: &[bool], next: &mut usize) -> bool {
        match self {
            Node::Leaf(_) => {
                *next += 1;
                on[*next - 1]
            }
            // Every member is visited, so the leaf indexes stay in step.
            Node::Group(k, members) => members.iter().filter(|m| m.eval(on, next)).count() >= *k,
        }
    }

    fn min_keys(&self) -> usize {
        match self {
            Node::Leaf(_) => 1,
            Node::Group(k, members) => {
                let mut each: Vec<usize> = members.iter().map(Node::min_keys).collect();
                each.sort_unstable();
                each.iter().take(*k).sum()
            }
        }
    }
}
