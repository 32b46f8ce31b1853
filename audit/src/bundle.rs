//! Export bundles and their offline verification.
//!
//! A bundle is a directory a regulator can check without our database, our
//! keys' private halves, or (see `VERIFY.md` in every bundle) our binary:
//!
//! ```text
//! manifest.json        what was exported, by whom, when; file digests
//! manifest.sig         signed note over manifest.json's SHA-256
//! records.jsonl        the leaf entries, one canonical JSON entry per line
//! payloads.jsonl       redacted texts with their salts (optional)
//! checkpoints/*.note   every signed checkpoint from the window to the anchor
//! proofs.json          range proofs of each run of records against the
//!                      anchor checkpoint; consistency proofs between
//!                      consecutive checkpoints (and from a pinned one)
//! keys/verifier-keys.txt
//! VERIFY.md
//! ```
//!
//! [`verify_bundle`] recomputes everything and reports one item per check:
//! edited, deleted, reordered or truncated records, forged or unknown-key
//! signatures, missing newest checkpoints (heartbeat gap) and a rolled-back or
//! forked log relative to a checkpoint the verifier pinned earlier.
//!
//! Threat model, plainly: whoever holds the signing key can sign a shorter or
//! different history. Such a rewrite is caught only against a checkpoint
//! that left the operator's hands earlier (`--previous-checkpoint`, a
//! regulator's copy, a witness). Everything short of that is caught from the
//! bundle alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AuditError, AuditErrorKind};
use crate::keys;
use crate::merkle::{self, Hash};
use crate::note::{Checkpoint, NoteCheck, NoteSigner, NoteVerifier, SignedNote};
use crate::record::{self, Event, LeafEntry, PayloadRef};
use crate::store::{Store, StoredCheckpoint, DB_FILE};

/// Bundle format id in `manifest.json`.
pub const BUNDLE_FORMAT: &str = "menshen-audit-bundle/1";

/// Heading of the signed manifest note.
const MANIFEST_NOTE_HEADER: &str = "menshen-audit bundle manifest v1";

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Window start, Unix milliseconds (inclusive).
    pub from_ms: u64,
    /// Window end, Unix milliseconds (exclusive).
    pub to_ms: u64,
    /// Only this tenant's decisions.
    pub tenant: Option<String>,
    /// Output directory (created; must be empty or absent).
    pub out: PathBuf,
    /// Include redacted payloads and their salts.
    pub include_payloads: bool,
    /// A checkpoint note the recipient holds already: the bundle then proves
    /// the anchor consistent with it.
    pub pinned: Option<String>,
    /// Signing key for the manifest; `dir/checkpoint.key` when `None`.
    pub key_path: Option<PathBuf>,
    /// Heartbeat interval of the log, seconds, recorded in the manifest for
    /// the gap check; `None` takes the interval the writer recorded, and 0
    /// disables the check.
    pub checkpoint_interval_s: Option<u64>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Records written.
    pub records: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Anchor checkpoint tree size.
    pub anchor_size: u64,
    /// Records in the window that are newer than the anchor, so not in the
    /// bundle: they are covered by the next checkpoint (written every
    /// `checkpoint_every` records or `checkpoint_interval_s`, and when the
    /// proxy stops).
    pub pending: u64,
}

/// The bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// Log origin.
    pub origin: String,
    /// Export time, Unix milliseconds.
    pub created_ms: u64,
    /// Window start, Unix milliseconds.
    pub from_ms: u64,
    /// Window end, Unix milliseconds (exclusive).
    pub to_ms: u64,
    /// Tenant filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Number of records in `records.jsonl`.
    pub records: u64,
    /// Sequence number of the anchor checkpoint.
    pub anchor_seq: u64,
    /// Whether the writer had stopped cleanly (no heartbeat expected).
    pub log_stopped: bool,
    /// Heartbeat interval, seconds.
    pub checkpoint_interval_s: u64,
    /// SHA-256 (hex) of each file, by relative path.
    pub files: BTreeMap<String, String>,
}

/// `proofs.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proofs {
    /// One range proof per run of consecutive indices.
    pub runs: Vec<RunProof>,
    /// Consistency proofs between checkpoints, by size.
    pub consistency: Vec<ConsistencyProof>,
}

/// Range proof of leaves `[first, last]` in the tree of `tree_size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunProof {
    /// First index.
    pub first: u64,
    /// Last index (inclusive).
    pub last: u64,
    /// Tree size proven against (the anchor's).
    pub tree_size: u64,
    /// Hex hashes, see [`merkle::range_proof`].
    pub hashes: Vec<String>,
    /// Leaves inside the run that are not exported (another tenant, or
    /// outside the window): index and hex leaf hash only, so that the run
    /// stays contiguous and a deleted record still shows as a gap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<(u64, String)>,
}

/// RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Older size.
    pub from_size: u64,
    /// Newer size.
    pub to_size: u64,
    /// Hex hashes.
    pub hashes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PayloadLine {
    index: u64,
    field: String,
    salt: String,
    body: String,
}

/// Verification settings.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trusted verifier keys; when `None`, the bundle's own keys are used
    /// (and the report says so: that proves integrity, not authorship).
    pub keys: Option<Vec<NoteVerifier>>,
    /// A checkpoint note seen earlier, to detect rollback or fork.
    pub previous_checkpoint: Option<String>,
    /// Print a line for every record, not only per run and per failure.
    pub verbose: bool,
}

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyItem {
    /// What was checked.
    pub subject: String,
    /// `None` when valid; the reason otherwise.
    pub problem: Option<String>,
}

/// Everything [`verify_bundle`] found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Checked items, in order.
    pub items: Vec<VerifyItem>,
    /// Records read.
    pub records: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// Notes (not failures): where trust came from, etc.
    pub notes: Vec<String>,
}

// === impl VerifyReport ===

impl VerifyReport {
    fn ok(&mut self, subject: impl Into<String>) {
        self.items.push(VerifyItem {
            subject: subject.into(),
            problem: None,
        });
    }

    fn bad(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.items.push(VerifyItem {
            subject: subject.into(),
            problem: Some(problem.into()),
        });
    }

    fn check(&mut self, subject: impl Into<String>, problem: Option<String>) {
        self.items.push(VerifyItem {
            subject: subject.into(),
            problem,
        });
    }

    /// `true` when every item verified.
    pub fn is_valid(&self) -> bool {
        !self.items.is_empty() && self.items.iter().all(|i| i.problem.is_none())
    }

    /// Number of failed items.
    pub fn invalid_count(&self) -> usize {
        self.items.iter().filter(|i| i.problem.is_some()).count()
    }

    /// The report as text: one `subject: valid` / `subject: INVALID: reason`
    /// line per item, then a summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        for i in &self.items {
            match &i.problem {
                None => {
                    let _ = writeln!(s, "{}: valid", i.subject);
                }
                Some(p) => {
                    let _ = writeln!(s, "{}: INVALID: {p}", i.subject);
                }
            }
        }
        let bad = self.invalid_count();
        let _ = writeln!(
            s,
            "summary: {} records, {} checkpoints, {} checks, {} invalid",
            self.records,
            self.checkpoints,
            self.items.len(),
            bad
        );
        let _ = writeln!(
            s,
            "{}",
            if self.is_valid() {
                "RESULT: valid"
            } else {
                "RESULT: INVALID"
            }
        );
        s
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hex_hashes(v: &[Hash]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

fn parse_hashes(v: &[String]) -> Option<Vec<Hash>> {
    v.iter()
        .map(|h| hex::decode(h).ok().and_then(|b| Hash::try_from(b).ok()))
        .collect()
}

fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> AuditError {
    move |e| AuditError::io(context, e)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Exports a bundle from the log in `dir`.
///
/// Records are those with time in the window, optionally of one tenant, and
/// covered by the newest checkpoint (the anchor); newer ones wait for the
/// next checkpoint.
///
/// # Errors
///
/// [`AuditErrorKind::Storage`] / [`AuditErrorKind::Io`] on read or write
/// failures, [`AuditErrorKind::Key`] without the signing key,
/// [`AuditErrorKind::Integrity`] when the log has no checkpoint or fails its
/// own proofs.
pub fn export(dir: &Path, opts: &ExportOptions) -> Result<ExportSummary, AuditError> {
    let store = Store::open_reader(&dir.join(DB_FILE))?;
    let signer = keys::load_signing_key(
        &opts
            .key_path
            .clone()
            .unwrap_or_else(|| dir.join(keys::SIGNING_KEY_FILE)),
    )?;
    let origin = store
        .meta("origin")?
        .ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "log has no origin"))?;
    let anchor = store
        .latest_checkpoint()?
        .ok_or_else(|| AuditError::new(AuditErrorKind::Integrity, "log has no checkpoint yet"))?;

    if opts.out.exists()
        && fs::read_dir(&opts.out)
            .map_err(io_err("reading the output directory"))?
            .next()
            .is_some()
    {
        return Err(AuditError::new(
            AuditErrorKind::Io,
            "export output directory is not empty",
        ));
    }
    fs::create_dir_all(opts.out.join("checkpoints")).map_err(io_err("creating the bundle"))?;
    fs::create_dir_all(opts.out.join("keys")).map_err(io_err("creating the bundle"))?;
    let mut files = BTreeMap::new();

    // Records and payloads.
    let indices = store.indices_in_window(
        opts.from_ms,
        opts.to_ms,
        anchor.size,
        opts.tenant.as_deref(),
    )?;
    let mut rec_out = BufWriter::new(
        fs::File::create(opts.out.join("records.jsonl"))
            .map_err(io_err("creating records.jsonl"))?,
    );
    let mut rec_hash = Sha256::new();
    let mut pay_out = if opts.include_payloads {
        Some(BufWriter::new(
            fs::File::create(opts.out.join("payloads.jsonl"))
                .map_err(io_err("creating payloads.jsonl"))?,
        ))
    } else {
        None
    };
    let mut pay_hash = Sha256::new();
    // One contiguous run from the first to the last selected record; the
    // leaves in between that are not selected go in as bare hashes.
    let runs: Vec<(u64, u64)> = match (indices.first(), indices.last()) {
        (Some(a), Some(b)) => vec![(*a, *b)],
        _ => Vec::new(),
    };
    let selected: std::collections::BTreeSet<u64> = indices.iter().copied().collect();
    let mut omitted = Vec::new();
    for &(first, last) in &runs {
        store.for_each_leaf(first, last + 1, |leaf| {
            if !selected.contains(&leaf.index) {
                omitted.push((leaf.index, hex::encode(leaf.leaf_hash)));
                return Ok(());
            }
            rec_out
                .write_all(&leaf.entry)
                .and_then(|()| rec_out.write_all(b"\n"))
                .map_err(io_err("writing records.jsonl"))?;
            rec_hash.update(&leaf.entry);
            rec_hash.update(b"\n");
            if let Some(out) = pay_out.as_mut() {
                for p in store.payloads(leaf.index)? {
                    let mut line = serde_json::to_vec(&PayloadLine {
                        index: p.index,
                        field: p.field,
                        salt: hex::encode(&p.salt),
                        body: p.body,
                    })
                    .map_err(|e| {
                        AuditError::with_source(AuditErrorKind::Encoding, "payload line", e)
                    })?;
                    line.push(b'\n');
                    out.write_all(&line)
                        .map_err(io_err("writing payloads.jsonl"))?;
                    pay_hash.update(&line);
                }
            }
            Ok(())
        })?;
    }
    rec_out.flush().map_err(io_err("writing records.jsonl"))?;
    files.insert("records.jsonl".to_owned(), hex::encode(rec_hash.finalize()));
    if let Some(mut out) = pay_out {
        out.flush().map_err(io_err("writing payloads.jsonl"))?;
        files.insert(
            "payloads.jsonl".to_owned(),
            hex::encode(pay_hash.finalize()),
        );
    }

    // Checkpoints: from the last one before the window through the anchor,
    // every one, so that a missing sequence number is visible.
    let start_seq = store.checkpoint_before(opts.from_ms)?.map_or(0, |c| c.seq);
    let checkpoints: Vec<StoredCheckpoint> = store
        .all_checkpoints()?
        .into_iter()
        .filter(|c| c.seq >= start_seq && c.seq <= anchor.seq)
        .collect();
    for cp in &checkpoints {
        let name = format!("checkpoints/{:012}.note", cp.seq);
        fs::write(opts.out.join(&name), &cp.note).map_err(io_err("writing a checkpoint"))?;
        files.insert(name, sha256_hex(cp.note.as_bytes()));
    }

    // Proofs.
    let mut proofs = Proofs::default();
    for &(first, last) in &runs {
        proofs.runs.push(RunProof {
            first,
            last,
            tree_size: anchor.size,
            hashes: hex_hashes(&merkle::range_proof(&store, first, last, anchor.size)?),
            omitted: std::mem::take(&mut omitted),
        });
    }
    let mut sizes: Vec<u64> = checkpoints.iter().map(|c| c.size).collect();
    sizes.dedup();
    for w in sizes.windows(2) {
        if let [a, b] = w {
            proofs.consistency.push(ConsistencyProof {
                from_size: *a,
                to_size: *b,
                hashes: hex_hashes(&merkle::consistency_proof(&store, *a, *b)?),
            });
        }
    }
    if let Some(pinned) = &opts.pinned {
        let note = SignedNote::parse(pinned)?;
        let cp = Checkpoint::parse_text(&note.text)?;
        if cp.size <= anchor.size {
            proofs.consistency.push(ConsistencyProof {
                from_size: cp.size,
                to_size: anchor.size,
                hashes: hex_hashes(&merkle::consistency_proof(&store, cp.size, anchor.size)?),
            });
        }
    }
    let proofs_json = serde_json::to_vec_pretty(&proofs)
        .map_err(|e| AuditError::with_source(AuditErrorKind::Encoding, "proofs.json", e))?;
    fs::write(opts.out.join("proofs.json"), &proofs_json).map_err(io_err("writing proofs.json"))?;
    files.insert("proofs.json".to_owned(), sha256_hex(&proofs_json));

    let mut vkeys = format!("{}\n", signer.verifier());
    if let Ok(note) = fs::read_to_string(dir.join(keys::KEY_MANIFEST_FILE)) {
        let m = keys::KeyManifest::parse(&note)?;
        vkeys = m.keys.iter().map(|k| format!("{}\n", k.key)).collect();
        fs::write(opts.out.join("keys/manifest.note"), &note).map_err(io_err("writing keys"))?;
        files.insert("keys/manifest.note".to_owned(), sha256_hex(note.as_bytes()));
    }
    fs::write(opts.out.join("keys/verifier-keys.txt"), &vkeys).map_err(io_err("writing keys"))?;
    files.insert(
        "keys/verifier-keys.txt".to_owned(),
        sha256_hex(vkeys.as_bytes()),
    );

    let log_stopped = match store.size()?.checked_sub(1) {
        Some(i) => store
            .leaf(i)?
            .map(|l| LeafEntry::from_canonical_bytes(&l.entry))
            .transpose()?
            .is_some_and(|e| matches!(e.event, Event::LogStopped { .. }) && anchor.size == i + 1),
        None => false,
    };
    let manifest = Manifest {
        format: BUNDLE_FORMAT.to_owned(),
        origin,
        created_ms: now_ms(),
        from_ms: opts.from_ms,
        to_ms: opts.to_ms,
        tenant: opts.tenant.clone(),
        records: indices.len() as u64,
        anchor_seq: anchor.seq,
        log_stopped,
        checkpoint_interval_s: match opts.checkpoint_interval_s {
            Some(s) => s,
            None => store
                .meta("checkpoint_interval_s")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        },
        files,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| AuditError::with_source(AuditErrorKind::Encoding, "manifest.json", e))?;
    fs::write(opts.out.join("manifest.json"), &manifest_json)
        .map_err(io_err("writing manifest.json"))?;
    let sig = sign_manifest(&signer, &manifest.origin, &manifest_json)?;
    fs::write(opts.out.join("manifest.sig"), sig).map_err(io_err("writing manifest.sig"))?;
    fs::write(opts.out.join("VERIFY.md"), VERIFY_MD).map_err(io_err("writing VERIFY.md"))?;

    let pending = store.count_from(
        opts.from_ms,
        opts.to_ms,
        anchor.size,
        opts.tenant.as_deref(),
    )?;
    Ok(ExportSummary {
        records: indices.len() as u64,
        checkpoints: checkpoints.len() as u64,
        anchor_size: anchor.size,
        pending,
    })
}

fn manifest_note_text(origin: &str, manifest_json: &[u8]) -> String {
    format!(
        "{MANIFEST_NOTE_HEADER}\n{origin}\nsha256 {}\n",
        sha256_hex(manifest_json)
    )
}

fn sign_manifest(
    signer: &NoteSigner,
    origin: &str,
    manifest_json: &[u8],
) -> Result<String, AuditError> {
    signer.sign(&manifest_note_text(origin, manifest_json))
}

fn describe_check(check: NoteCheck) -> Option<String> {
    match check {
        NoteCheck::Valid { .. } => None,
        NoteCheck::UnknownKey => Some("signed by an unknown key".to_owned()),
        NoteCheck::BadSignature { name } => Some(format!("forged signature (key {name})")),
    }
}

/// Verifies the bundle in `dir`.
///
/// Never stops at the first failure: every check is reported.
///
/// # Errors
///
/// Only when the bundle cannot be read at all (missing directory or
/// manifest); every integrity failure is an item of the report.
pub fn verify_bundle(dir: &Path, opts: &VerifyOptions) -> Result<VerifyReport, AuditError> {
    let mut rep = VerifyReport::default();
    let manifest_bytes =
        fs::read(dir.join("manifest.json")).map_err(io_err("reading manifest.json"))?;

    // Keys.
    let bundle_keys: Vec<NoteVerifier> = fs::read_to_string(dir.join("keys/verifier-keys.txt"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| NoteVerifier::parse(l).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut trusted = match &opts.keys {
        Some(k) => k.clone(),
        None => {
            rep.notes.push(
                "trusting the keys inside the bundle; pass --key to check who signed".to_owned(),
            );
            bundle_keys
        }
    };
    // Key rotation: a manifest signed by a trusted key and by its newest key
    // extends trust to every key it lists, each within its window.
    let mut retired: BTreeMap<u32, u64> = BTreeMap::new();
    if let Ok(text) = fs::read_to_string(dir.join("keys/manifest.note")) {
        let checked =
            SignedNote::parse(&text).and_then(|n| Ok((keys::KeyManifest::parse(&text)?, n)));
        match checked {
            Err(e) => rep.bad("key manifest", format!("malformed: {e}")),
            Ok((m, note)) => {
                let newest = m.keys.last().map(|k| k.key.clone());
                let by_trusted = matches!(note.check(&trusted), NoteCheck::Valid { .. });
                let by_newest = newest.as_ref().is_some_and(|k| {
                    matches!(note.check(std::slice::from_ref(k)), NoteCheck::Valid { .. })
                });
                if by_trusted && by_newest {
                    for k in &m.keys {
                        if let Some(u) = k.until_ms {
                            retired.insert(k.key.key_id(), u);
                        }
                        if !trusted.contains(&k.key) {
                            trusted.push(k.key.clone());
                        }
                    }
                    rep.ok("key manifest");
                } else {
                    rep.bad(
                        "key manifest",
                        "not signed by both a trusted key and its newest key",
                    );
                }
            }
        }
    }

    // Manifest.
    let manifest: Option<Manifest> = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            rep.bad("manifest.json", format!("unreadable: {e}"));
            None
        }
    };
    let Some(manifest) = manifest else {
        return Ok(rep);
    };
    if manifest.format != BUNDLE_FORMAT {
        rep.bad(
            "manifest.json",
            format!("unknown format {}", manifest.format),
        );
    }
    match fs::read_to_string(dir.join("manifest.sig")) {
        Err(_) => rep.bad("manifest.sig", "missing"),
        Ok(sig) => {
            let problem = match SignedNote::parse(&sig) {
                Err(e) => Some(format!("malformed: {e}")),
                Ok(note) if note.text != manifest_note_text(&manifest.origin, &manifest_bytes) => {
                    Some("does not match manifest.json (manifest edited)".to_owned())
                }
                Ok(note) => describe_check(note.check(&trusted)),
            };
            rep.check("manifest.sig", problem);
        }
    }
    for (file, want) in &manifest.files {
        if file == "records.jsonl" {
            continue; // digested while the records are read
        }
        let problem = match fs::read(dir.join(file)) {
            Err(_) => Some("listed in the manifest but missing".to_owned()),
            Ok(b) if sha256_hex(&b) != *want => Some("digest differs from the manifest".to_owned()),
            Ok(_) => None,
        };
        rep.check(format!("file {file}"), problem);
    }

    // Checkpoints.
    let proofs: Proofs = match fs::read(dir.join("proofs.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(p) => p,
        None => {
            rep.bad("proofs.json", "missing or unreadable");
            Proofs::default()
        }
    };
    let consistency: BTreeMap<(u64, u64), Vec<String>> = proofs
        .consistency
        .iter()
        .map(|c| ((c.from_size, c.to_size), c.hashes.clone()))
        .collect();
    let mut cp_files: Vec<PathBuf> = fs::read_dir(dir.join("checkpoints"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    cp_files.sort();
    let mut cps: Vec<Checkpoint> = Vec::new();
    for path in &cp_files {
        rep.checkpoints += 1;
        let name = format!(
            "checkpoint {}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                rep.bad(name, format!("unreadable: {e}"));
                continue;
            }
        };
        let parsed = SignedNote::parse(&text).and_then(|n| {
            let cp = Checkpoint::parse_text(&n.text)?;
            Ok((n, cp))
        });
        let (note, cp) = match parsed {
            Ok(v) => v,
            Err(e) => {
                rep.bad(name, format!("malformed: {e}"));
                continue;
            }
        };
        let name = format!("checkpoint seq={} size={}", cp.seq, cp.size);
        if let Some(p) = describe_check(note.check(&trusted)) {
            rep.bad(name, p);
            continue;
        }
        // At least one signer must have been in force at signing time.
        let in_force = note.signatures.iter().any(|s| {
            trusted
                .iter()
                .any(|k| k.key_id() == s.key_id && k.name() == s.name)
                && retired
                    .get(&s.key_id)
                    .is_none_or(|until| cp.time_ms <= *until)
        });
        if !in_force {
            rep.bad(name, "signed only by a key retired before this checkpoint");
            continue;
        }
        if cp.origin != manifest.origin {
            rep.bad(name, format!("origin {} is not the bundle's", cp.origin));
            continue;
        }
        let mut problem = None;
        if let Some(prev) = cps.last() {
            if cp.seq != prev.seq + 1 {
                problem = Some(format!(
                    "sequence gap after seq {}: checkpoints deleted",
                    prev.seq
                ));
            } else if cp.size < prev.size {
                problem = Some(format!(
                    "tree shrank from {} to {}: log rolled back",
                    prev.size, cp.size
                ));
            } else if cp.time_ms < prev.time_ms {
                problem = Some("checkpoint time went backwards".to_owned());
            } else if cp.size == prev.size {
                if cp.root != prev.root {
                    problem = Some(
                        "same size as the previous checkpoint, different root: fork".to_owned(),
                    );
                }
            } else {
                let ok = consistency
                    .get(&(prev.size, cp.size))
                    .and_then(|h| parse_hashes(h))
                    .is_some_and(|h| {
                        merkle::verify_consistency(prev.size, cp.size, &prev.root, &cp.root, &h)
                    });
                if !ok {
                    problem = Some(format!(
                        "not consistent with the checkpoint of size {}: history rewritten",
                        prev.size
                    ));
                }
            }
        }
        rep.check(name, problem);
        cps.push(cp);
    }
    let anchor = cps.last().cloned();
    match &anchor {
        None => rep.bad("anchor checkpoint", "no valid checkpoint in the bundle"),
        Some(a) if a.seq != manifest.anchor_seq => rep.bad(
            "anchor checkpoint",
            format!(
                "manifest names seq {}, newest in the bundle is {}: newest checkpoints removed",
                manifest.anchor_seq, a.seq
            ),
        ),
        Some(a) => {
            // Heartbeats: a running log signs at least every interval, so a
            // newest checkpoint much older than the export means newer ones
            // were deleted (or the writer died without closing the log).
            let slack = manifest
                .checkpoint_interval_s
                .saturating_mul(2000)
                .saturating_add(2000);
            let age = manifest.created_ms.saturating_sub(a.time_ms);
            if !manifest.log_stopped && manifest.checkpoint_interval_s > 0 && age > slack {
                rep.bad(
                    "heartbeat",
                    format!(
                        "newest checkpoint is {} s older than the export (heartbeat every {} s): newer checkpoints are missing or the writer stopped uncleanly",
                        age / 1000,
                        manifest.checkpoint_interval_s
                    ),
                );
            } else {
                rep.ok("heartbeat");
            }
        }
    }

    // Pinned checkpoint.
    if let (Some(pinned), Some(a)) = (&opts.previous_checkpoint, &anchor) {
        let subject = "previous checkpoint";
        match SignedNote::parse(pinned).and_then(|n| Ok((Checkpoint::parse_text(&n.text)?, n))) {
            Err(e) => rep.bad(subject, format!("malformed: {e}")),
            Ok((p, note)) => {
                if let Some(problem) = describe_check(note.check(&trusted)) {
                    rep.bad(subject, problem);
                } else if p.origin != a.origin {
                    rep.bad(subject, "belongs to another log (origin differs)");
                } else if p.size > a.size {
                    rep.bad(
                        subject,
                        format!(
                            "log rolled back: a checkpoint of size {} was seen before, the bundle ends at {}",
                            p.size, a.size
                        ),
                    );
                } else if p.size == a.size {
                    let problem = (p.root != a.root)
                        .then(|| "same size, different root: log forked".to_owned());
                    rep.check(subject, problem);
                } else if let Some(same) = cps.iter().find(|c| c.size == p.size) {
                    let problem = (same.root != p.root).then(|| {
                        "root differs from the bundle's checkpoint of that size: log forked"
                            .to_owned()
                    });
                    rep.check(subject, problem);
                } else {
                    let ok = consistency
                        .get(&(p.size, a.size))
                        .and_then(|h| parse_hashes(h))
                        .map(|h| merkle::verify_consistency(p.size, a.size, &p.root, &a.root, &h));
                    match ok {
                        Some(true) => rep.ok(subject),
                        Some(false) => {
                            rep.bad(subject, "not consistent with the anchor: log rewritten")
                        }
                        None => rep.bad(
                            subject,
                            "no consistency proof from its size; re-export with --pinned",
                        ),
                    }
                }
            }
        }
    }

    verify_records(dir, &manifest, &proofs, anchor.as_ref(), opts, &mut rep)?;
    Ok(rep)
}

fn verify_records(
    dir: &Path,
    manifest: &Manifest,
    proofs: &Proofs,
    anchor: Option<&Checkpoint>,
    opts: &VerifyOptions,
    rep: &mut VerifyReport,
) -> Result<(), AuditError> {
    // Payloads, keyed by (index, field).
    let mut payloads: BTreeMap<(u64, String), PayloadLine> = BTreeMap::new();
    if let Ok(f) = fs::File::open(dir.join("payloads.jsonl")) {
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io_err("reading payloads.jsonl"))?;
            match serde_json::from_str::<PayloadLine>(&line) {
                Ok(p) => {
                    payloads.insert((p.index, p.field.clone()), p);
                }
                Err(e) => rep.bad("payloads.jsonl", format!("malformed line: {e}")),
            }
        }
    }

    let f = match fs::File::open(dir.join("records.jsonl")) {
        Ok(f) => f,
        Err(_) => {
            rep.bad("records.jsonl", "missing");
            return Ok(());
        }
    };
    // (index, recomputed leaf hash, claimed previous hash) per record.
    let mut leaves: Vec<(u64, Hash, Option<Hash>)> =
        Vec::with_capacity(usize::try_from(manifest.records).unwrap_or(0));
    let mut last_index: Option<u64> = None;
    let mut bad_records = 0u64;
    let mut f = f;
    let mut file_hash = Sha256::new();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let mut line_no = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut eof = false;
    while !eof {
        // Read a block of whole lines; parse and hash them on all cores while
        // another thread digests the block for the manifest; then apply the
        // order-dependent checks in sequence.
        let mut block = std::mem::take(&mut carry);
        let start = block.len();
        block.resize(start + BLOCK, 0);
        let mut filled = start;
        while filled < block.len() {
            let n = std::io::Read::read(&mut f, &mut block[filled..])
                .map_err(io_err("reading records.jsonl"))?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        block.truncate(filled);
        let cut = if eof {
            block.len()
        } else {
            match block.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                // A line longer than a block: read on.
                None => {
                    carry = block;
                    continue;
                }
            }
        };
        carry = block.split_off(cut);
        if block.is_empty() {
            continue;
        }
        let body = block.strip_suffix(b"\n").unwrap_or(&block);
        let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
        let parsed = std::thread::scope(|sc| {
            let digest = sc.spawn(|| {
                let mut h = file_hash.clone();
                h.update(&block);
                h
            });
            let parsed = parse_chunk(&lines, threads, manifest, &payloads);
            (parsed, digest.join())
        });
        let (parsed, digest) = parsed;
        match digest {
            Ok(h) => file_hash = h,
            Err(_) => file_hash.update(&block),
        }
        for p in parsed {
            line_no += 1;
            rep.records += 1;
            let (index, prev, mut problem) = match p.result {
                Ok(v) => v,
                Err(e) => {
                    bad_records += 1;
                    rep.bad(format!("record line {line_no}"), format!("edited: {e}"));
                    continue;
                }
            };
            if let Some(pi) = last_index {
                if index <= pi {
                    problem = Some(format!("out of order: follows record {pi}"));
                }
            }
            match problem {
                Some(pr) => {
                    bad_records += 1;
                    rep.bad(format!("record {index}"), pr);
                }
                None if opts.verbose => rep.ok(format!("record {index}")),
                None => {}
            }
            last_index = Some(index);
            leaves.push((index, p.leaf, prev));
        }
    }
    let digest = hex::encode(file_hash.finalize());
    rep.check(
        "file records.jsonl",
        (manifest.files.get("records.jsonl") != Some(&digest))
            .then(|| "digest differs from the manifest".to_owned()),
    );
    if rep.records != manifest.records {
        rep.bad(
            "records.jsonl",
            format!(
                "{} records, manifest lists {}: records deleted or added",
                rep.records, manifest.records
            ),
        );
    }
    leaves.sort_by_key(|l| l.0);

    let Some(anchor) = anchor else {
        return Ok(());
    };
    let mut used = 0usize;
    for run in &proofs.runs {
        let subject = format!("records {}..={}", run.first, run.last);
        if run.tree_size != anchor.size || run.first > run.last || run.last >= anchor.size {
            rep.bad(subject, "proof is not against the anchor checkpoint");
            continue;
        }
        let Ok(len) = usize::try_from(run.last - run.first + 1) else {
            rep.bad(subject, "run too long");
            continue;
        };
        // Every index of the run: the exported record's hash, or the
        // omitted leaf's hash; exactly one of them.
        let mut slots: Vec<Option<Hash>> = vec![None; len];
        let mut prevs: Vec<Option<Hash>> = vec![None; len];
        let mut duplicate = None;
        let mut place = |i: u64, h: Hash, prev: Option<Hash>, slots: &mut Vec<Option<Hash>>| {
            let Some(k) = i
                .checked_sub(run.first)
                .and_then(|k| usize::try_from(k).ok())
            else {
                return false;
            };
            match slots.get_mut(k) {
                Some(slot @ None) => {
                    *slot = Some(h);
                    if let Some(p) = prevs.get_mut(k) {
                        *p = prev;
                    }
                    true
                }
                Some(Some(_)) => {
                    duplicate = Some(i);
                    true
                }
                None => false,
            }
        };
        let start = leaves.partition_point(|l| l.0 < run.first);
        let end = leaves.partition_point(|l| l.0 <= run.last);
        for (i, h, prev) in leaves.get(start..end).unwrap_or_default() {
            place(*i, *h, *prev, &mut slots);
        }
        used += end.saturating_sub(start);
        let mut malformed_omitted = false;
        for (i, h) in &run.omitted {
            match hex::decode(h).ok().and_then(|b| Hash::try_from(b).ok()) {
                Some(h) => {
                    if !place(*i, h, None, &mut slots) {
                        malformed_omitted = true;
                    }
                }
                None => malformed_omitted = true,
            }
        }
        if malformed_omitted {
            rep.bad(subject, "malformed omitted-leaf list");
            continue;
        }
        if let Some(i) = duplicate {
            rep.bad(subject, format!("record {i} appears twice"));
            continue;
        }
        let missing: Vec<u64> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(k, _)| run.first + k as u64)
            .collect();
        if let Some(first_missing) = missing.first() {
            let tail =
                missing.last() == Some(&run.last) && missing.windows(2).all(|w| w[0] + 1 == w[1]);
            let what = if tail {
                "truncated: tail missing from record"
            } else {
                "record deleted:"
            };
            rep.bad(
                subject,
                format!(
                    "{what} {first_missing} ({} of {len} missing)",
                    missing.len()
                ),
            );
            continue;
        }
        let hashes: Vec<Hash> = slots.into_iter().flatten().collect();
        // The previous-hash chain, across exported and omitted leaves.
        let mut chain_ok = true;
        for (k, prev) in prevs.iter().enumerate().skip(1) {
            if let (Some(p), Some(before)) = (prev, hashes.get(k - 1)) {
                if p != before {
                    chain_ok = false;
                    rep.bad(
                        format!("record {}", run.first + k as u64),
                        format!(
                            "previous-hash chain broken: record {} was edited, replaced or reordered",
                            run.first + k as u64 - 1
                        ),
                    );
                }
            }
        }
        let ok = parse_hashes(&run.hashes)
            .and_then(|p| merkle::root_from_range(run.first, &hashes, anchor.size, &p))
            .is_some_and(|r| r == anchor.root);
        rep.check(
            subject,
            (!ok || !chain_ok).then(|| {
                "not in the signed tree: records edited, reordered or replaced".to_owned()
            }),
        );
    }
    if used < leaves.len() {
        rep.bad(
            "records.jsonl",
            format!("{} records outside every proven run", leaves.len() - used),
        );
    }
    if bad_records == 0 && !opts.verbose {
        rep.ok(format!(
            "{} records (canonical form, order, payloads)",
            rep.records
        ));
    }
    Ok(())
}

/// Bytes of `records.jsonl` read per parallel step.
const BLOCK: usize = 16 << 20;

/// One record line after the order-independent checks.
struct ParsedLine {
    leaf: Hash,
    /// (index, claimed previous hash, problem) or a parse error.
    result: Result<(u64, Option<Hash>, Option<String>), AuditError>,
}

fn parse_chunk(
    chunk: &[&[u8]],
    threads: usize,
    manifest: &Manifest,
    payloads: &BTreeMap<(u64, String), PayloadLine>,
) -> Vec<ParsedLine> {
    let parse = |line: &&[u8]| {
        let leaf = record::entry_leaf_hash(line);
        let result = LeafEntry::from_canonical_bytes(line).map(|entry| {
            let mut problem = None;
            if let (Some(t), Event::Decision(r)) = (&manifest.tenant, &entry.event) {
                if &r.tenant != t {
                    problem = Some("belongs to another tenant".to_owned());
                }
            }
            if problem.is_none() {
                problem = check_payloads(&entry, payloads);
            }
            let prev = hex::decode(&entry.prev)
                .ok()
                .and_then(|b| Hash::try_from(b).ok());
            (entry.index, prev, problem)
        });
        ParsedLine { leaf, result }
    };
    if threads <= 1 || chunk.len() < 1024 {
        return chunk.iter().map(parse).collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(parse).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(chunk.len());
        for (h, part) in handles.into_iter().zip(chunk.chunks(per)) {
            match h.join() {
                Ok(v) => out.extend(v),
                // A panic in a parser thread is a bug; parse that part again
                // here rather than lose records from the report.
                Err(_) => out.extend(part.iter().map(parse)),
            }
        }
        out
    })
}

fn check_payloads(
    entry: &LeafEntry,
    payloads: &BTreeMap<(u64, String), PayloadLine>,
) -> Option<String> {
    for (field, r) in &entry.payloads {
        let PayloadRef::Sha256Salted { commitment } = r else {
            continue;
        };
        // An absent payload is fine (erased or not exported); a present one
        // must match its commitment.
        if let Some(p) = payloads.get(&(entry.index, field.clone())) {
            let Ok(salt) = hex::decode(&p.salt) else {
                return Some(format!("{field} payload salt is not hex"));
            };
            if record::payload_commitment(&salt, &p.body) != *commitment {
                return Some(format!(
                    "{field} payload does not match its commitment (edited)"
                ));
            }
        }
    }
    None
}

/// First line of a C2SP `tlog-proof`.
const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A C2SP `tlog-proof` receipt for leaf `index`: the inclusion proof against
/// the newest checkpoint that covers it, with that signed checkpoint, so a
/// client can keep offline evidence that its record was logged.
///
/// # Errors
///
/// [`AuditErrorKind::Integrity`] when no checkpoint covers `index` yet, or a
/// storage error.
pub fn tlog_proof(dir: &Path, index: u64) -> Result<String, AuditError> {
    let store = Store::open_reader(&dir.join(DB_FILE))?;
    let cp = store
        .latest_checkpoint()?
        .filter(|c| index < c.size)
        .ok_or_else(|| {
            AuditError::new(
                AuditErrorKind::Integrity,
                "no checkpoint covers this record yet",
            )
        })?;
    let proof = merkle::inclusion_proof(&store, index, cp.size)?;
    let mut s = format!("{TLOG_PROOF_HEADER}\nindex {index}\n");
    for h in proof {
        s.push_str(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            h,
        ));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(&cp.note);
    Ok(s)
}

/// Checks a `tlog-proof` for the canonical entry bytes `entry` against
/// trusted keys; returns the checkpoint it is anchored to.
///
/// # Errors
///
/// A description of the first failure (malformed, signature, inclusion).
pub fn verify_tlog_proof(
    proof: &str,
    entry: &[u8],
    trusted: &[NoteVerifier],
) -> Result<Checkpoint, String> {
    let (head, note) = proof
        .split_once("\n\n")
        .ok_or("tlog-proof has no checkpoint")?;
    let mut lines = head.lines();
    if lines.next() != Some(TLOG_PROOF_HEADER) {
        return Err("not a c2sp.org/tlog-proof@v1".to_owned());
    }
    let mut line = lines.next().ok_or("tlog-proof has no index")?;
    if line.starts_with("extra ") {
        line = lines.next().ok_or("tlog-proof has no index")?;
    }
    let index: u64 = line
        .strip_prefix("index ")
        .and_then(|i| i.parse().ok())
        .ok_or("tlog-proof index line malformed")?;
    let hashes: Vec<Hash> = lines
        .map(|l| {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, l)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
        })
        .collect::<Option<_>>()
        .ok_or("tlog-proof hash malformed")?;
    let note = SignedNote::parse(note).map_err(|e| e.to_string())?;
    if let Some(p) = describe_check(note.check(trusted)) {
        return Err(p);
    }
    let cp = Checkpoint::parse_text(&note.text).map_err(|e| e.to_string())?;
    let leaf = record::entry_leaf_hash(entry);
    if !merkle::verify_inclusion(&leaf, index, cp.size, &hashes, &cp.root) {
        return Err("entry is not included at that index".to_owned());
    }
    Ok(cp)
}

/// `VERIFY.md`, written into every bundle.
pub const VERIFY_MD: &str = include_str!("VERIFY.md");
