//! The map as a binary Merkle prefix trie with path compression (see the
//! module above for the hashes). Invariant: every inner node has two
//! non-empty children and its depth is the first bit at which the keys below
//! it differ, so the trie, and its root, depend only on the map's contents,
//! not on the order they arrived in.
//!
//! A [`Map`] is persistent: an update copies the path it changes and shares
//! the rest, so a clone taken before (a published revision) stays valid and
//! costs nothing.

use super::proof::{MapProof, ProofEnd};
use super::{
    bit, chain, empty_root, first_difference, inner_hash, leaf_hash, prefix, Key, EMPTY_CHAIN,
};
use crate::hash::Hash;
use std::sync::{Arc, OnceLock};

/// Why the map refused an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index {index} does not follow {last}, the last index of its key: a key's indices must ascend")]
    NotAscending { last: u64, index: u64 },
    #[error("keys given out of order or twice: a map is built from strictly ascending keys")]
    Unsorted,
}

#[derive(Clone)]
enum Node {
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

struct Leaf {
    key: Key,
    /// The value hash (chain) of the key's indices.
    chain: Hash,
    /// The last index appended, so that the next must be greater.
    last: u64,
}

struct Inner {
    depth: u8,
    /// A key below this node (its leftmost), so that its prefix is at hand
    /// without a walk down (32 bytes per node).
    key: Key,
    /// Computed when first asked for: a batch of appends copies the upper
    /// nodes once per key, and only the copies that remain get hashed.
    hash: OnceLock<Hash>,
    /// Keys whose bit `depth` is 0, then 1.
    children: [Node; 2],
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Leaf(l) => leaf_hash(&l.key, &l.chain),
            Node::Inner(i) => *i.hash.get_or_init(|| {
                inner_hash(
                    i.depth,
                    &prefix(&i.key, i.depth),
                    &i.children[0].hash(),
                    &i.children[1].hash(),
                )
            }),
        }
    }

    /// A key below this node (its leftmost): it carries the node's prefix.
    fn any_key(&self) -> &Key {
        match self {
            Node::Leaf(l) => &l.key,
            Node::Inner(i) => &i.key,
        }
    }

    fn leaf(key: &Key, chain: Hash, last: u64) -> Node {
        Node::Leaf(Arc::new(Leaf {
            key: *key,
            chain,
            last,
        }))
    }

    /// The inner node at `depth` over two children (its hash is computed
    /// when first needed).
    fn inner(depth: u8, children: [Node; 2]) -> Node {
        Node::Inner(Arc::new(Inner {
            depth,
            key: *children[0].any_key(),
            hash: OnceLock::new(),
            children,
        }))
    }

    /// The node joining `new` (holding `key`) and `other`, which first differ
    /// at bit `depth`.
    fn join(depth: u8, key: &Key, new: Node, other: Node) -> Node {
        let children = if bit(key, depth) {
            [other, new]
        } else {
            [new, other]
        };
        Node::inner(depth, children)
    }
}

/// One revision of the map. Cloning is cheap and the clone is unaffected by
/// later updates of the original.
#[derive(Clone, Default)]
pub struct Map {
    root: Option<Node>,
    keys: u64,
}

impl Map {
    /// The empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// The map's root hash.
    pub fn root(&self) -> Hash {
        self.root.as_ref().map_or_else(empty_root, Node::hash)
    }

    /// How many keys the map holds.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Appends `index` to `key`'s list (creating the key), copying the path.
    /// `index` must exceed the key's last index.
    pub fn append(&mut self, key: &Key, index: u64) -> Result<(), IndexError> {
        let (node, added) = insert(self.root.as_ref(), key, index)?;
        self.root = Some(node);
        self.keys += u64::from(added);
        Ok(())
    }

    /// Appends every `(key, index)` of `items` (any order; a key's indices
    /// must exceed its last one) in one pass: each node on the changed paths
    /// is copied once, where one [`Map::append`] per item would copy the
    /// upper nodes once per item. The result is the same map.
    pub fn append_all(&mut self, mut items: Vec<(Key, u64)>) -> Result<(), IndexError> {
        items.sort_unstable();
        let mut runs: Vec<Run<'_>> = Vec::new();
        let mut start = 0;
        for end in 1..=items.len() {
            if end == items.len() || items[end].0 != items[start].0 {
                runs.push(Run {
                    key: items[start].0,
                    indices: &items[start..end],
                });
                start = end;
            }
        }
        let (root, added) = merge(self.root.as_ref(), &runs)?;
        self.root = root;
        self.keys += added;
        Ok(())
    }

    /// The value hash and last index of `key`, if present.
    pub fn get(&self, key: &Key) -> Option<(Hash, u64)> {
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Leaf(l) => return (l.key == *key).then_some((l.chain, l.last)),
                Node::Inner(i) => node = &i.children[usize::from(bit(key, i.depth))],
            }
        }
    }

    /// The proof of what `key` holds: its list, or that there is none.
    pub fn prove(&self, key: &Key) -> MapProof {
        let mut steps = Vec::new();
        let Some(mut node) = self.root.as_ref() else {
            return MapProof {
                steps,
                end: ProofEnd::Empty,
            };
        };
        loop {
            match node {
                Node::Leaf(l) if l.key == *key => {
                    return MapProof {
                        steps,
                        end: ProofEnd::Member,
                    }
                }
                Node::Leaf(l) => {
                    return MapProof {
                        steps,
                        end: ProofEnd::OtherLeaf {
                            key: l.key,
                            value: l.chain,
                        },
                    }
                }
                Node::Inner(i) => {
                    let below = node.any_key();
                    if first_difference(key, below).is_some_and(|d| d < i.depth) {
                        return MapProof {
                            steps,
                            end: ProofEnd::OtherInner {
                                depth: i.depth,
                                prefix: prefix(below, i.depth),
                                left: i.children[0].hash(),
                                right: i.children[1].hash(),
                            },
                        };
                    }
                    let side = usize::from(bit(key, i.depth));
                    steps.push((i.depth, i.children[1 - side].hash()));
                    node = &i.children[side];
                }
            }
        }
    }

    /// The map of `leaves` (key, value hash, last index), given in strictly
    /// ascending key order: how a log rebuilds its index from storage.
    pub fn from_sorted(leaves: Vec<(Key, Hash, u64)>) -> Result<Map, IndexError> {
        if leaves.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(IndexError::Unsorted);
        }
        let nodes: Vec<Node> = leaves
            .iter()
            .map(|(k, c, last)| Node::leaf(k, *c, *last))
            .collect();
        let keys: Vec<Key> = leaves.iter().map(|l| l.0).collect();
        Ok(Map {
            root: build(&keys, &nodes),
            keys: keys.len() as u64,
        })
    }
}

/// The subtree of sorted, distinct `keys` (with their leaves `nodes`).
fn build(keys: &[Key], nodes: &[Node]) -> Option<Node> {
    match keys {
        [] => None,
        [_] => Some(nodes[0].clone()),
        [first, .., last] => {
            // Sorted: the keys' common prefix is that of the first and last.
            let depth = first_difference(first, last)?;
            let split = keys.partition_point(|k| !bit(k, depth));
            let left = build(&keys[..split], &nodes[..split])?;
            let right = build(&keys[split..], &nodes[split..])?;
            Some(Node::inner(depth, [left, right]))
        }
    }
}

/// One key's new indices in a batch (pairs of that key, indices ascending).
struct Run<'a> {
    key: Key,
    indices: &'a [(Key, u64)],
}

impl Run<'_> {
    /// The run's leaf: `indices` chained after `chain` (whose last index
    /// was `last`, if any).
    fn leaf_after(&self, chain_from: Hash, last: Option<u64>) -> Result<Node, IndexError> {
        let mut chain_now = chain_from;
        let mut prev = last;
        for &(_, index) in self.indices {
            if let Some(p) = prev.filter(|p| index <= *p) {
                return Err(IndexError::NotAscending { last: p, index });
            }
            chain_now = chain(&chain_now, index);
            prev = Some(index);
        }
        let last = prev.ok_or(IndexError::Unsorted)?;
        Ok(Node::leaf(&self.key, chain_now, last))
    }

    fn fresh(&self) -> Result<Node, IndexError> {
        self.leaf_after(EMPTY_CHAIN, None)
    }
}

/// The subtree of `node` (if any) with `runs` (in key order) appended;
/// how many keys are new.
fn merge(node: Option<&Node>, runs: &[Run<'_>]) -> Result<(Option<Node>, u64), IndexError> {
    let Some(node) = node else {
        return Ok((build_runs(runs)?, runs.len() as u64));
    };
    let (Some(first), Some(last)) = (runs.first(), runs.last()) else {
        return Ok((Some(node.clone()), 0));
    };
    match node {
        Node::Leaf(l) => {
            // The leaf and the runs, as leaves in key order.
            let mut leaves = Vec::with_capacity(runs.len() + 1);
            let mut added = 0;
            let mut placed = false;
            for r in runs {
                if !placed && l.key < r.key {
                    leaves.push(node.clone());
                    placed = true;
                }
                if l.key == r.key {
                    leaves.push(r.leaf_after(l.chain, Some(l.last))?);
                    placed = true;
                } else {
                    leaves.push(r.fresh()?);
                    added += 1;
                }
            }
            if !placed {
                leaves.push(node.clone());
            }
            let keys: Vec<Key> = leaves.iter().map(|n| *n.any_key()).collect();
            Ok((build(&keys, &leaves), added))
        }
        Node::Inner(i) => {
            let below = &i.key;
            // Sorted runs: none leaves this node's prefix earlier than the
            // first or the last does.
            let diverge = |k: &Key| first_difference(k, below).map_or(256, u16::from);
            let m = diverge(&first.key).min(diverge(&last.key));
            if m >= u16::from(i.depth) {
                let split = runs.partition_point(|r| !bit(&r.key, i.depth));
                let (left, a) = merge(Some(&i.children[0]), &runs[..split])?;
                let (right, b) = merge(Some(&i.children[1]), &runs[split..])?;
                let (Some(left), Some(right)) = (left, right) else {
                    return Err(IndexError::Unsorted);
                };
                return Ok((Some(Node::inner(i.depth, [left, right])), a + b));
            }
            // Some runs leave the prefix at bit m: a new node there, this
            // subtree (with the runs on its side) under one child, the
            // other runs under the other.
            let m = u8::try_from(m).map_err(|_| IndexError::Unsorted)?;
            let side = bit(below, m);
            let split = runs.partition_point(|r| !bit(&r.key, m));
            let (zeros, ones) = runs.split_at(split);
            let (same, other) = if side { (ones, zeros) } else { (zeros, ones) };
            let (with_node, a) = merge(Some(node), same)?;
            let beside = build_runs(other)?;
            let (Some(with_node), Some(beside)) = (with_node, beside) else {
                return Err(IndexError::Unsorted);
            };
            let children = if side {
                [beside, with_node]
            } else {
                [with_node, beside]
            };
            Ok((Some(Node::inner(m, children)), a + other.len() as u64))
        }
    }
}

/// The subtree of new keys `runs` (in key order).
fn build_runs(runs: &[Run<'_>]) -> Result<Option<Node>, IndexError> {
    let nodes = runs
        .iter()
        .map(Run::fresh)
        .collect::<Result<Vec<Node>, _>>()?;
    let keys: Vec<Key> = runs.iter().map(|r| r.key).collect();
    Ok(build(&keys, &nodes))
}

/// `node` with `index` appended to `key`; whether the key is new.
///
/// The leaf that `key`'s own bits lead to shares the longest prefix with
/// `key` of all keys below, so one walk down finds where `key` first
/// differs (`split`), and a second copies the path down to the first node
/// whose depth is past it (asking each node for a key below it instead
/// would walk down again at every level).
fn insert(node: Option<&Node>, key: &Key, index: u64) -> Result<(Node, bool), IndexError> {
    let Some(node) = node else {
        return Ok((fresh_leaf(key, index), true));
    };
    let split = first_difference(key, &nearest_leaf(node, key).key);
    insert_at(node, key, index, split)
}

/// The leaf reached from `node` by following `key`'s bits.
fn nearest_leaf<'a>(mut node: &'a Node, key: &Key) -> &'a Leaf {
    loop {
        match node {
            Node::Leaf(l) => return l,
            Node::Inner(i) => node = &i.children[usize::from(bit(key, i.depth))],
        }
    }
}

fn fresh_leaf(key: &Key, index: u64) -> Node {
    Node::leaf(key, chain(&EMPTY_CHAIN, index), index)
}

/// [`insert`] below `node`, `key` first differing from the keys on its path
/// at bit `split` (`None`: it is the path's leaf's key).
fn insert_at(
    node: &Node,
    key: &Key,
    index: u64,
    split: Option<u8>,
) -> Result<(Node, bool), IndexError> {
    match (node, split) {
        (Node::Leaf(l), None) => {
            if index <= l.last {
                return Err(IndexError::NotAscending {
                    last: l.last,
                    index,
                });
            }
            Ok((Node::leaf(key, chain(&l.chain, index), index), false))
        }
        (Node::Leaf(_), Some(d)) => Ok((
            Node::join(d, key, fresh_leaf(key, index), node.clone()),
            true,
        )),
        // The key leaves this node's prefix above it: a new parent.
        (Node::Inner(i), Some(d)) if d < i.depth => Ok((
            Node::join(d, key, fresh_leaf(key, index), node.clone()),
            true,
        )),
        (Node::Inner(i), _) => {
            let side = usize::from(bit(key, i.depth));
            let (child, added) = insert_at(&i.children[side], key, index, split)?;
            let mut children = i.children.clone();
            children[side] = child;
            Ok((Node::inner(i.depth, children), added))
        }
    }
}
