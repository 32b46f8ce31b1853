//! Merkle math against published vectors and a naive reference.

use super::*;
use proptest::prelude::*;

fn h(s: &str) -> Hash {
    let v = hex::decode(s).unwrap();
    v.try_into().unwrap()
}

/// The eight leaves of the Certificate Transparency reference tests (also in
/// `transparency-dev/merkle` and Go's `sumdb/tlog` test data).
fn ct_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

const CT_ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn ct_tree() -> MemoryTree {
    MemoryTree::from_leaves(ct_leaves().iter().map(|l| leaf_hash(l)))
}

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    assert_eq!(MemoryTree::new().root(), EMPTY_ROOT);
}

/// `rfc6962_test.go` in transparency-dev/merkle.
#[test]
fn leaf_and_node_hashes_match_reference() {
    assert_eq!(
        leaf_hash(b"L123456"),
        h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
    let mut l = [0u8; 32];
    let mut r = [0u8; 32];
    // The reference hashes raw "N123"/"N456"; our node_hash takes 32-byte
    // children, so check the construction directly instead.
    l[..4].copy_from_slice(b"N123");
    r[..4].copy_from_slice(b"N456");
    let mut want = Sha256::new();
    want.update([1u8]);
    want.update(l);
    want.update(r);
    assert_eq!(node_hash(&l, &r), <[u8; 32]>::from(want.finalize()));
}

#[test]
fn roots_match_published_vectors_at_every_size() {
    let leaves = ct_leaves();
    for n in 1..=8 {
        let t = MemoryTree::from_leaves(leaves[..n].iter().map(|l| leaf_hash(l)));
        assert_eq!(hex::encode(t.root()), CT_ROOTS[n - 1], "size {n}");
        assert_eq!(hex::encode(root(&t, n as u64).unwrap()), CT_ROOTS[n - 1]);
    }
    let full = ct_tree();
    for n in 1..=8u64 {
        assert_eq!(
            hex::encode(root(&full, n).unwrap()),
            CT_ROOTS[n as usize - 1]
        );
    }
}

/// `inclusionProofs` in transparency-dev/merkle `proof/verify_test.go`
/// (their leaf numbers are 1-based).
#[test]
fn inclusion_proofs_match_published_vectors() {
    let t = ct_tree();
    let cases: Vec<(u64, u64, Vec<&str>)> = vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            vec![
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            vec![
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    let leaves = ct_leaves();
    for (index, size, want) in cases {
        let got = inclusion_proof(&t, index, size).unwrap();
        let want: Vec<Hash> = want.into_iter().map(h).collect();
        assert_eq!(got, want, "leaf {index} size {size}");
        let root = h(CT_ROOTS[size as usize - 1]);
        let leaf = leaf_hash(&leaves[index as usize]);
        assert!(verify_inclusion(&leaf, index, size, &got, &root));
        if !got.is_empty() {
            assert!(!verify_inclusion(&leaf, index, size, &got[1..], &root));
            assert!(!verify_inclusion(&leaf, index ^ 1, size, &got, &root));
        }
    }
}

/// `consistencyProofs` in transparency-dev/merkle `proof/verify_test.go`.
#[test]
fn consistency_proofs_match_published_vectors() {
    let t = ct_tree();
    let cases: Vec<(u64, u64, Vec<&str>)> = vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let got = consistency_proof(&t, old, new).unwrap();
        let want: Vec<Hash> = want.into_iter().map(h).collect();
        assert_eq!(got, want, "{old} -> {new}");
        let r1 = h(CT_ROOTS[old as usize - 1]);
        let r2 = h(CT_ROOTS[new as usize - 1]);
        assert!(verify_consistency(old, new, &r1, &r2, &got));
        if old != new {
            assert!(!verify_consistency(old, new, &r2, &r1, &got));
            assert!(!verify_consistency(old, new, &r1, &r2, &got[1..]));
        }
    }
}

/// RFC 6962 §2.1 written as literally as possible, as a reference.
fn naive_mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_mth(&leaves[..k]), &naive_mth(&leaves[k..]))
        }
    }
}

fn leaves_of(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[salt, (i & 0xff) as u8, (i >> 8) as u8]))
        .collect()
}

proptest! {
    #[test]
    fn incremental_root_matches_naive_definition(n in 0usize..300, salt in any::<u8>()) {
        let leaves = leaves_of(n, salt);
        let t = MemoryTree::from_leaves(leaves.iter().copied());
        prop_assert_eq!(t.root(), naive_mth(&leaves));
        prop_assert_eq!(mth_of(&leaves), naive_mth(&leaves));
        // The frontier reloaded from stored nodes gives the same root.
        let f = Frontier::load(&t, n as u64).unwrap();
        prop_assert_eq!(f.root(), t.root());
    }

    #[test]
    fn every_inclusion_proof_verifies_and_binds_its_index(
        (n, i) in (1u64..200).prop_flat_map(|n| (Just(n), 0..n)),
        salt in any::<u8>(),
    ) {
        let leaves = leaves_of(n as usize, salt);
        let t = MemoryTree::from_leaves(leaves.iter().copied());
        let p = inclusion_proof(&t, i, n).unwrap();
        let r = t.root();
        prop_assert!(verify_inclusion(&leaves[i as usize], i, n, &p, &r));
        for j in 0..n {
            if j != i {
                prop_assert!(!verify_inclusion(&leaves[j as usize], i, n, &p, &r));
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_between_any_two_sizes(
        (m, n) in (1u64..200).prop_flat_map(|n| (0..=n, Just(n))),
        salt in any::<u8>(),
    ) {
        let leaves = leaves_of(n as usize, salt);
        let t = MemoryTree::from_leaves(leaves.iter().copied());
        let p = consistency_proof(&t, m, n).unwrap();
        let r1 = root(&t, m).unwrap();
        let r2 = t.root();
        prop_assert!(verify_consistency(m, n, &r1, &r2, &p));
        // A forked history (one old leaf changed) must not verify.
        if m > 0 {
            let mut forked = leaves.clone();
            forked[(m - 1) as usize] = leaf_hash(b"fork");
            let f = MemoryTree::from_leaves(forked);
            prop_assert!(!verify_consistency(m, n, &r1, &f.root(), &p));
        }
    }

    #[test]
    fn range_proofs_rebuild_the_root(
        (n, a, b) in (1u64..300).prop_flat_map(|n| (Just(n), 0..n))
            .prop_flat_map(|(n, a)| (Just(n), Just(a), a..n)),
        salt in any::<u8>(),
    ) {
        let leaves = leaves_of(n as usize, salt);
        let t = MemoryTree::from_leaves(leaves.iter().copied());
        let p = range_proof(&t, a, b, n).unwrap();
        let run = &leaves[a as usize..=b as usize];
        prop_assert_eq!(root_from_range(a, run, n, &p), Some(t.root()));
        // Dropping the last leaf of the run, or shifting it, fails.
        if run.len() > 1 {
            prop_assert_ne!(root_from_range(a, &run[..run.len() - 1], n, &p), Some(t.root()));
        }
        if a + 1 < n && b + 1 < n {
            prop_assert_ne!(root_from_range(a + 1, run, n, &p), Some(t.root()));
        }
    }
}
