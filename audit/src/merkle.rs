//! RFC 6962 / RFC 9162 Merkle tree math on SHA-256.
//!
//! Leaf hash `SHA-256(0x00 || entry)`, interior node `SHA-256(0x01 || left ||
//! right)`, and a tree of `n` leaves splits at the largest power of two
//! smaller than `n`. Written here rather than taken from `rs_merkle`, whose
//! trees have no domain-separation prefixes and promote odd nodes, so their
//! roots are not Certificate Transparency roots.
//!
//! Every subtree that the RFC recursion visits is either a complete, aligned
//! subtree (stored once when it completes, see [`NodeSource`]) or the right
//! edge of the tree, which decomposes into complete ones. So all proofs and
//! roots are computed from `O(log n)` stored hashes.

use sha2::{Digest, Sha256};

use crate::error::{AuditError, AuditErrorKind};

/// A SHA-256 hash: a leaf, node or root of the tree.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Hashes one leaf's bytes: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Hashes two children: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Read access to the hashes of complete, aligned subtrees: level `l`, index
/// `i` is the root of leaves `[i·2^l, (i+1)·2^l)`; level 0 holds leaf hashes.
pub trait NodeSource {
    /// Returns the stored hash of subtree (`level`, `index`).
    ///
    /// # Errors
    ///
    /// The source's own failure, or [`AuditErrorKind::Integrity`] when the
    /// node is absent.
    fn node(&self, level: u32, index: u64) -> Result<Hash, AuditError>;
}

/// `MTH(D[lo:hi])` from stored complete subtrees.
///
/// # Errors
///
/// Whatever the [`NodeSource`] returns for a missing node.
pub fn subtree_root<S: NodeSource + ?Sized>(src: &S, lo: u64, hi: u64) -> Result<Hash, AuditError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(EMPTY_ROOT);
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return src.node(n.trailing_zeros(), lo / n);
    }
    let k = split_point(n);
    let left = subtree_root(src, lo, lo + k)?;
    let right = subtree_root(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of a tree of `size` leaves.
///
/// # Errors
///
/// Whatever the [`NodeSource`] returns for a missing node.
pub fn root<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Hash, AuditError> {
    subtree_root(src, 0, size)
}

/// RFC 9162 §2.1.3.1 inclusion proof (audit path) for leaf `index` in a tree
/// of `size` leaves, nearest sibling first.
///
/// # Errors
///
/// [`AuditErrorKind::Integrity`] when `index >= size`, or a missing node.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    if index >= size {
        return Err(AuditError::new(
            AuditErrorKind::Integrity,
            "inclusion proof for an index outside the tree",
        ));
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), AuditError> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < lo + k {
        path(src, m, lo, lo + k, out)?;
        out.push(subtree_root(src, lo + k, hi)?);
    } else {
        path(src, m, lo + k, hi, out)?;
        out.push(subtree_root(src, lo, lo + k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): does `leaf` sit at
/// `index` in the tree of `size` leaves whose root is `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    root_from_inclusion(leaf, index, size, proof).is_some_and(|r| &r == root)
}

/// Recomputes the root from an inclusion proof; `None` when the proof has
/// the wrong shape for (`index`, `size`).
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// RFC 9162 §2.1.4.1 consistency proof between the tree of `old` leaves and
/// the tree of `new` leaves.
///
/// # Errors
///
/// [`AuditErrorKind::Integrity`] when `old > new`, or a missing node.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, AuditError> {
    if old > new {
        return Err(AuditError::new(
            AuditErrorKind::Integrity,
            "consistency proof from a larger tree to a smaller one",
        ));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(src, old, 0, new, true, &mut proof)?;
    Ok(proof)
}

fn subproof<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), AuditError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(subtree_root(src, lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, lo, lo + k, whole, out)?;
        out.push(subtree_root(src, lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(subtree_root(src, lo, lo + k)?);
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): is the tree
/// (`old`, `old_root`) a prefix of (`new`, `new_root`)?
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // Every tree extends the empty tree; RFC 9162 has no proof for it.
        return proof.is_empty();
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    let mut fn_ = old - 1;
    let mut sn = new - 1;
    if fn_ & 1 == 1 {
        while fn_ & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &fr == old_root && &sr == new_root
}

/// Proof that the contiguous leaves `[first, last]` sit in the tree of
/// `size` leaves: the roots of the maximal subtrees disjoint from the range,
/// in the order the RFC recursion meets them (left to right).
///
/// Not an RFC structure: it lets a bundle prove a run of a million records
/// with `O(log n)` hashes instead of a million audit paths. Checked by
/// [`root_from_range`].
///
/// # Errors
///
/// [`AuditErrorKind::Integrity`] for an empty or out-of-tree range, or a
/// missing node.
pub fn range_proof<S: NodeSource + ?Sized>(
    src: &S,
    first: u64,
    last: u64,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    if first > last || last >= size {
        return Err(AuditError::new(
            AuditErrorKind::Integrity,
            "range proof for a range outside the tree",
        ));
    }
    let mut out = Vec::new();
    range_walk(src, first, last + 1, 0, size, &mut out)?;
    Ok(out)
}

fn range_walk<S: NodeSource + ?Sized>(
    src: &S,
    a: u64,
    b: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), AuditError> {
    if hi <= a || b <= lo {
        out.push(subtree_root(src, lo, hi)?);
        return Ok(());
    }
    if a <= lo && hi <= b {
        return Ok(());
    }
    let k = split_point(hi - lo);
    range_walk(src, a, b, lo, lo + k, out)?;
    range_walk(src, a, b, lo + k, hi, out)
}

/// Recomputes the root of a `size`-leaf tree from the leaf hashes of the
/// run starting at `first` and its [`range_proof`]. `None` when the proof
/// has the wrong length or the run does not fit in the tree.
pub fn root_from_range(first: u64, leaves: &[Hash], size: u64, proof: &[Hash]) -> Option<Hash> {
    let count = u64::try_from(leaves.len()).ok()?;
    let end = first.checked_add(count)?;
    if count == 0 || end > size {
        return None;
    }
    let mut proof_iter = proof.iter();
    let root = range_eval(first, end, 0, size, leaves, &mut proof_iter)?;
    proof_iter.next().is_none().then_some(root)
}

fn range_eval<'a>(
    a: u64,
    b: u64,
    lo: u64,
    hi: u64,
    leaves: &[Hash],
    proof: &mut impl Iterator<Item = &'a Hash>,
) -> Option<Hash> {
    if hi <= a || b <= lo {
        return proof.next().copied();
    }
    if hi - lo == 1 {
        return leaves.get(usize::try_from(lo - a).ok()?).copied();
    }
    if a <= lo && hi <= b {
        // Fully inside the run: hash the leaves bottom-up without recursion
        // per leaf pair, which is what makes bulk verification fast.
        let start = usize::try_from(lo - a).ok()?;
        let len = usize::try_from(hi - lo).ok()?;
        return Some(mth_of_parallel(leaves.get(start..start + len)?));
    }
    let k = split_point(hi - lo);
    let left = range_eval(a, b, lo, lo + k, leaves, proof)?;
    let right = range_eval(a, b, lo + k, hi, leaves, proof)?;
    Some(node_hash(&left, &right))
}

/// [`mth_of`] with the two halves of large trees hashed on two threads.
pub fn mth_of_parallel(leaves: &[Hash]) -> Hash {
    if leaves.len() < (1 << 16) {
        return mth_of(leaves);
    }
    let k = split_point(leaves.len() as u64) as usize;
    let (l, r) = leaves.split_at(k);
    let (left, right) = std::thread::scope(|s| {
        let left = s.spawn(|| mth_of_parallel(l));
        let right = mth_of_parallel(r);
        (left.join().unwrap_or_else(|_| mth_of(l)), right)
    });
    node_hash(&left, &right)
}

/// `MTH` over a slice of leaf hashes, computed level by level.
pub fn mth_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            let (l, r) = leaves.split_at(k);
            node_hash(&mth_of(l), &mth_of(r))
        }
    }
}

/// The right edge of a growing tree: the roots of the complete subtrees
/// ("peaks") that make up `size` leaves, one per set bit of `size`.
///
/// Appending a leaf yields the new complete nodes to store, so the tree is
/// kept incrementally: each append writes `1 + trailing_ones(size)` nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `peaks[l]` is the root of the complete subtree at level `l`, present
    /// exactly when bit `l` of `size` is set.
    peaks: Vec<Option<Hash>>,
}

// === impl Frontier ===

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of a `size`-leaf tree from stored nodes.
    ///
    /// # Errors
    ///
    /// Whatever the [`NodeSource`] returns for a missing node.
    pub fn load<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Self, AuditError> {
        let mut peaks = vec![None; 64];
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                if let Some(slot) = peaks.get_mut(level as usize) {
                    *slot = Some(src.node(level, start >> level)?);
                }
                start += 1u64 << level;
            }
        }
        Ok(Self { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns every complete node it finishes as
    /// (level, index, hash), starting with the leaf itself at level 0.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u32, u64, Hash)> {
        let n = self.size;
        let mut out = Vec::with_capacity(1 + n.trailing_ones() as usize);
        out.push((0, n, leaf));
        let mut carry = leaf;
        let mut level = 0u32;
        while n & (1u64 << level) != 0 {
            let left = self
                .peaks
                .get_mut(level as usize)
                .and_then(Option::take)
                .unwrap_or(carry);
            carry = node_hash(&left, &carry);
            level += 1;
            out.push((level, n >> level, carry));
        }
        if self.peaks.len() <= level as usize {
            self.peaks.resize(level as usize + 1, None);
        }
        if let Some(slot) = self.peaks.get_mut(level as usize) {
            *slot = Some(carry);
        }
        self.size = n + 1;
        out
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for peak in self.peaks.iter().flatten() {
            acc = Some(match acc {
                None => *peak,
                Some(right) => node_hash(peak, &right),
            });
        }
        acc.unwrap_or(EMPTY_ROOT)
    }
}

/// An in-memory tree holding every complete subtree: used by the verifier
/// and tests, and as the reference the SQLite store is checked against.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

// === impl MemoryTree ===

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut t = Self::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (level, index, hash) in self.frontier.push(leaf) {
            let level = level as usize;
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            if let Some(row) = self.levels.get_mut(level) {
                debug_assert_eq!(row.len() as u64, index);
                row.push(hash);
            }
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u32, index: u64) -> Result<Hash, AuditError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "tree node missing"))
    }
}

#[cfg(test)]
mod tests;
