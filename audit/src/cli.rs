//! The `menshen-audit` command line, also reachable as `menshen audit ...`
//! through [`run_cli`].
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::bundle::{self, ExportOptions, VerifyOptions};
use crate::log::MIN_RETENTION;
use crate::merkle;
use crate::note::NoteVerifier;
use crate::record::{Direction, Event, LeafEntry};
use crate::store::{Store, DB_FILE};

/// Signed, tamper-evident audit log: export, verify, inspect, report, prune.
#[derive(Debug, Parser)]
#[command(name = "menshen-audit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a verifiable bundle of the records in a time window.
    Export {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Window start: RFC 3339 time, date (YYYY-MM-DD) or Unix ms.
        #[arg(long)]
        from: String,
        /// Window end (exclusive).
        #[arg(long)]
        to: String,
        /// Only this tenant's records.
        #[arg(long)]
        tenant: Option<String>,
        /// Output directory (must be empty or absent).
        #[arg(long)]
        out: PathBuf,
        /// Leave redacted payloads out of the bundle.
        #[arg(long)]
        no_payloads: bool,
        /// A checkpoint note the recipient pinned earlier: include a proof
        /// that the log extends it.
        #[arg(long)]
        pinned: Option<PathBuf>,
        /// Signing key file (default DIR/checkpoint.key).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The log's heartbeat interval, seconds (default: as the writer
        /// recorded it; 0 disables the heartbeat-gap check).
        #[arg(long)]
        checkpoint_interval: Option<u64>,
    },
    /// Verify a bundle offline; exit 0 only when everything verifies.
    Verify {
        /// Bundle directory.
        bundle: PathBuf,
        /// Trusted verifier key (the key itself or a file of keys, one per
        /// line); repeatable.
        #[arg(long)]
        key: Vec<String>,
        /// A checkpoint note seen earlier (rollback and fork detection).
        #[arg(long)]
        previous_checkpoint: Option<PathBuf>,
        /// One line per record.
        #[arg(long)]
        verbose: bool,
    },
    /// Check a whole log directory in place (export everything, verify).
    Check {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print one record, its payloads and its inclusion proof.
    Show {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Leaf index.
        index: u64,
    },
    /// Print a C2SP tlog-proof receipt for one record.
    Proof {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Leaf index.
        index: u64,
    },
    /// Print the newest records as JSON lines.
    Tail {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 10)]
        count: u64,
    },
    /// Print the newest signed checkpoint (to pin it).
    Checkpoint {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Compliance summary for a period, as JSON or text.
    Report {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Window start.
        #[arg(long)]
        from: String,
        /// Window end (exclusive).
        #[arg(long)]
        to: String,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// `json` or `text`.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Rotate the checkpoint signing key (stop the proxy first): the old and
    /// new keys both sign the switch and the key manifest.
    RotateKey {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Erase payloads older than a time; leaves (and proofs) stay.
    Prune {
        /// Audit log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Erase payloads of records before this time.
        #[arg(long)]
        before: String,
        /// Allow erasing within the six-month minimum retention.
        #[arg(long)]
        force: bool,
    },
}

/// Runs the CLI on `args` (including the program name) and returns the exit
/// code: 0 on success, 1 when verification fails, 2 on usage or I/O errors.
pub fn run_cli(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

fn run(cmd: Command) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Export {
            dir,
            from,
            to,
            tenant,
            out: out_dir,
            no_payloads,
            pinned,
            key_file,
            checkpoint_interval,
        } => {
            let pinned = pinned
                .map(|p| {
                    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
                })
                .transpose()?;
            let opts = ExportOptions {
                from_ms: parse_time(&from)?,
                to_ms: parse_time(&to)?,
                tenant,
                out: out_dir.clone(),
                include_payloads: !no_payloads,
                pinned,
                key_path: key_file,
                checkpoint_interval_s: checkpoint_interval,
            };
            let s = bundle::export(&dir, &opts).context("exporting the bundle")?;
            writeln!(
                out,
                "exported {} records and {} checkpoints (anchor tree size {}) to {}",
                s.records,
                s.checkpoints,
                s.anchor_size,
                out_dir.display()
            )?;
            if s.pending > 0 {
                // Not an error (the bundle is complete up to its anchor), but
                // an auditor who asked for "today" must not think it is all.
                writeln!(
                    out,
                    "note: {} newer records in the window are not in the bundle: no checkpoint covers them yet; \
                     export again after the next checkpoint (every checkpoint_interval_s, default 60 s, and when the proxy stops)",
                    s.pending
                )?;
            }
            Ok(0)
        }
        Command::Verify {
            bundle: dir,
            key,
            previous_checkpoint,
            verbose,
        } => {
            let keys = if key.is_empty() {
                None
            } else {
                Some(load_keys(&key)?)
            };
            let previous_checkpoint = previous_checkpoint
                .map(|p| {
                    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
                })
                .transpose()?;
            let rep = bundle::verify_bundle(
                &dir,
                &VerifyOptions {
                    keys,
                    previous_checkpoint,
                    verbose,
                },
            )
            .context("reading the bundle")?;
            out.write_all(rep.render().as_bytes())?;
            Ok(if rep.is_valid() { 0 } else { 1 })
        }
        Command::Check { dir } => {
            let tmp = std::env::temp_dir().join(format!(
                "menshen-audit-check-{}-{}",
                std::process::id(),
                now_ms()
            ));
            let opts = ExportOptions {
                from_ms: 0,
                to_ms: u64::MAX >> 12,
                tenant: None,
                out: tmp.clone(),
                include_payloads: true,
                pinned: None,
                key_path: None,
                checkpoint_interval_s: Some(0),
            };
            let result = bundle::export(&dir, &opts)
                .context("exporting the whole log")
                .and_then(|_| {
                    let verifier =
                        std::fs::read_to_string(dir.join(crate::keys::VERIFIER_KEY_FILE))
                            .ok()
                            .map(|k| load_keys(&[k]))
                            .transpose()?;
                    Ok(bundle::verify_bundle(
                        &tmp,
                        &VerifyOptions {
                            keys: verifier,
                            ..Default::default()
                        },
                    )?)
                });
            let _ = std::fs::remove_dir_all(&tmp);
            let rep = result?;
            out.write_all(rep.render().as_bytes())?;
            Ok(if rep.is_valid() { 0 } else { 1 })
        }
        Command::Show { dir, index } => {
            let store = open(&dir)?;
            let Some(leaf) = store.leaf(index)? else {
                bail!("no record {index}");
            };
            let entry: serde_json::Value = serde_json::from_slice(&leaf.entry)?;
            let payloads: Vec<_> = store
                .payloads(index)?
                .into_iter()
                .map(|p| serde_json::json!({"field": p.field, "salt": hex::encode(p.salt), "body": p.body}))
                .collect();
            let cp = store.latest_checkpoint()?;
            let proof = match &cp {
                Some(cp) if index < cp.size => Some(serde_json::json!({
                    "tree_size": cp.size,
                    "root": hex::encode(cp.root),
                    "checkpoint_seq": cp.seq,
                    "inclusion": merkle::inclusion_proof(&store, index, cp.size)?
                        .iter().map(hex::encode).collect::<Vec<_>>(),
                })),
                _ => None,
            };
            let doc = serde_json::json!({
                "index": index,
                "leaf_hash": hex::encode(leaf.leaf_hash),
                "entry": entry,
                "payloads": payloads,
                "proof": proof,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            Ok(0)
        }
        Command::Proof { dir, index } => {
            out.write_all(bundle::tlog_proof(&dir, index)?.as_bytes())?;
            Ok(0)
        }
        Command::Tail { dir, count } => {
            let store = open(&dir)?;
            let size = store.size()?;
            store.for_each_leaf(size.saturating_sub(count), size, |leaf| {
                let _ = out.write_all(&leaf.entry);
                let _ = out.write_all(b"\n");
                Ok(())
            })?;
            Ok(0)
        }
        Command::Checkpoint { dir } => {
            let store = open(&dir)?;
            let Some(cp) = store.latest_checkpoint()? else {
                bail!("the log has no checkpoint yet");
            };
            out.write_all(cp.note.as_bytes())?;
            Ok(0)
        }
        Command::Report {
            dir,
            from,
            to,
            tenant,
            format,
        } => {
            let store = open(&dir)?;
            let rep = build_report(
                &store,
                parse_time(&from)?,
                parse_time(&to)?,
                tenant.as_deref(),
            )?;
            match format.as_str() {
                "json" => writeln!(out, "{}", serde_json::to_string_pretty(&rep)?)?,
                "text" => out.write_all(rep.to_text().as_bytes())?,
                other => bail!("unknown report format {other:?} (json or text)"),
            }
            Ok(0)
        }
        Command::RotateKey { dir } => {
            let origin = open(&dir)?
                .meta("origin")?
                .context("the log has no origin; is this an audit directory?")?;
            // On a thread of its own: `run_cli` may be called from inside
            // the proxy's runtime (`menshen audit ...`).
            let new_key = std::thread::spawn(move || -> anyhow::Result<_> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(rt.block_on(async {
                    let log =
                        crate::AuditLog::open(crate::AuditConfig::new(&dir).with_origin(origin))?;
                    let key = log.rotate_key().await;
                    log.shutdown().await?;
                    key
                })?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the key rotation thread panicked"))??;
            writeln!(out, "new verifier key: {new_key}")?;
            Ok(0)
        }
        Command::Prune { dir, before, force } => {
            let before_ms = parse_time(&before)?;
            let min_keep = now_ms().saturating_sub(MIN_RETENTION.as_millis() as u64);
            if before_ms > min_keep && !force {
                bail!(
                    "refusing to erase payloads younger than six months (EU AI Act Art. 19, 26(6)); pass --force to override"
                );
            }
            let store = Store::open_maintenance(&dir.join(DB_FILE))?;
            let n = store.prune_payloads(before_ms)?;
            writeln!(out, "erased {n} payloads; leaves and proofs are unchanged")?;
            Ok(0)
        }
    }
}

fn open(dir: &Path) -> anyhow::Result<Store> {
    Store::open_reader(&dir.join(DB_FILE))
        .with_context(|| format!("opening the log in {}", dir.display()))
}

fn load_keys(args: &[String]) -> anyhow::Result<Vec<NoteVerifier>> {
    let mut keys = Vec::new();
    for a in args {
        let text = if Path::new(a.trim()).is_file() {
            std::fs::read_to_string(a.trim()).with_context(|| format!("reading key file {a}"))?
        } else {
            a.clone()
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            keys.push(
                NoteVerifier::parse(line)
                    .with_context(|| format!("parsing verifier key {line:?}"))?,
            );
        }
    }
    Ok(keys)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Parses RFC 3339, a date (midnight UTC) or Unix milliseconds.
fn parse_time(s: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    let fmt = time::format_description::well_known::Rfc3339;
    let dt = match time::OffsetDateTime::parse(s, &fmt) {
        Ok(dt) => dt,
        Err(_) => {
            let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
            let d = time::Date::parse(s, &date_fmt)
                .with_context(|| format!("{s:?} is not RFC 3339, YYYY-MM-DD or Unix ms"))?;
            d.midnight().assume_utc()
        }
    };
    let ms = dt.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).with_context(|| format!("{s:?} is before 1970"))
}

fn fmt_time(ms: u64) -> String {
    let dt = time::OffsetDateTime::UNIX_EPOCH + Duration::from_millis(ms);
    dt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

/// A compliance summary for a period.
#[derive(Debug, Default, Serialize)]
struct Report {
    from: String,
    to: String,
    tenant: Option<String>,
    records: u64,
    requests: u64,
    responses: u64,
    actions: BTreeMap<String, u64>,
    blocks_by_category: BTreeMap<String, u64>,
    redactions_by_category: BTreeMap<String, u64>,
    redacted_entities: BTreeMap<String, u64>,
    findings_by_category: BTreeMap<String, u64>,
    review_outcomes: BTreeMap<String, u64>,
    policy_versions: BTreeMap<String, PolicyUse>,
    log_events: BTreeMap<String, u64>,
    upstream_errors: u64,
}

#[derive(Debug, Default, Serialize)]
struct PolicyUse {
    first_seen: String,
    last_seen: String,
    decisions: u64,
}

fn build_report(
    store: &Store,
    from_ms: u64,
    to_ms: u64,
    tenant: Option<&str>,
) -> anyhow::Result<Report> {
    let mut rep = Report {
        from: fmt_time(from_ms),
        to: fmt_time(to_ms),
        tenant: tenant.map(str::to_owned),
        ..Default::default()
    };
    let indices = store.indices_in_window(from_ms, to_ms, u64::MAX >> 12, tenant)?;
    for idx in indices {
        let Some(leaf) = store.leaf(idx)? else {
            continue;
        };
        let entry = LeafEntry::from_canonical_bytes(&leaf.entry)
            .with_context(|| format!("record {idx} is not a valid entry (run `verify`)"))?;
        rep.records += 1;
        let r = match entry.event {
            Event::Decision(r) => r,
            Event::LogStarted { .. } => {
                *rep.log_events.entry("log_started".into()).or_default() += 1;
                continue;
            }
            Event::LogStopped { .. } => {
                *rep.log_events.entry("log_stopped".into()).or_default() += 1;
                continue;
            }
            Event::KeyRotated { .. } => {
                *rep.log_events.entry("key_rotated".into()).or_default() += 1;
                continue;
            }
        };
        match r.direction {
            Direction::Request => rep.requests += 1,
            Direction::Response => rep.responses += 1,
        }
        *rep.actions.entry(r.decision.action.clone()).or_default() += 1;
        for f in &r.findings {
            *rep.findings_by_category
                .entry(f.category.clone())
                .or_default() += u64::from(f.count);
            match r.decision.action.as_str() {
                "block" => {
                    *rep.blocks_by_category
                        .entry(f.category.clone())
                        .or_default() += 1
                }
                "redact" => {
                    *rep.redactions_by_category
                        .entry(f.category.clone())
                        .or_default() += 1;
                    for (ent, n) in &f.entities {
                        *rep.redacted_entities.entry(ent.clone()).or_default() += u64::from(*n);
                    }
                }
                _ => {}
            }
        }
        // Request records only: the response record of a released request
        // names the same case and would count it twice.
        if let Some(review) = r
            .review
            .as_ref()
            .filter(|_| r.direction == Direction::Request)
        {
            // A record without an outcome is the held request itself.
            let outcome = review.outcome.clone().unwrap_or_else(|| "held".into());
            *rep.review_outcomes.entry(outcome).or_default() += 1;
        }
        if r.upstream
            .as_ref()
            .and_then(|u| u.status)
            .is_some_and(|s| s >= 500)
        {
            rep.upstream_errors += 1;
        }
        let p = rep
            .policy_versions
            .entry(r.policy_version.clone())
            .or_default();
        if p.decisions == 0 {
            p.first_seen = fmt_time(r.time_ms);
        }
        p.last_seen = fmt_time(r.time_ms);
        p.decisions += 1;
    }
    Ok(rep)
}

// === impl Report ===

impl Report {
    fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "Menshen audit report");
        let _ = writeln!(s, "====================");
        let _ = writeln!(s, "Period: {} to {}", self.from, self.to);
        if let Some(t) = &self.tenant {
            let _ = writeln!(s, "Tenant: {t}");
        }
        let _ = writeln!(
            s,
            "\nDecisions: {} ({} on requests, {} on responses)",
            self.requests + self.responses,
            self.requests,
            self.responses
        );
        let section = |s: &mut String, title: &str, m: &BTreeMap<String, u64>| {
            let _ = writeln!(s, "\n{title}:");
            if m.is_empty() {
                let _ = writeln!(s, "  (none)");
            }
            for (k, v) in m {
                let _ = writeln!(s, "  {k:<40} {v:>10}");
            }
        };
        section(&mut s, "Actions", &self.actions);
        section(&mut s, "Blocks by category", &self.blocks_by_category);
        section(
            &mut s,
            "Redactions by category",
            &self.redactions_by_category,
        );
        section(&mut s, "Redacted entities by type", &self.redacted_entities);
        section(&mut s, "Findings by category", &self.findings_by_category);
        section(&mut s, "Review outcomes", &self.review_outcomes);
        section(&mut s, "Log events", &self.log_events);
        let _ = writeln!(s, "\nPolicy versions in force:");
        if self.policy_versions.is_empty() {
            let _ = writeln!(s, "  (none)");
        }
        for (v, u) in &self.policy_versions {
            let _ = writeln!(
                s,
                "  {v}: {} decisions, {} to {}",
                u.decisions, u.first_seen, u.last_seen
            );
        }
        let _ = writeln!(s, "\nUpstream 5xx responses: {}", self.upstream_errors);
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{
        AuditConfig, AuditLog, AuditMode, AuditRecord, DecisionSummary, Payloads, ReviewSummary,
    };

    fn reviewed(i: u64, direction: Direction, action: &str, outcome: Option<&str>) -> AuditRecord {
        AuditRecord {
            time_ms: 1_000 + i,
            request_id: format!("req-{i}"),
            tenant: "acme".into(),
            route: "chat".into(),
            api: "openai.chat".into(),
            model: None,
            direction,
            decision: DecisionSummary {
                action: action.into(),
                reasons: Vec::new(),
                monitor: false,
            },
            risk_score: 0,
            findings: Vec::new(),
            policy_version: "sha256:0f1e".into(),
            review: Some(ReviewSummary {
                case_id: "case-1".into(),
                outcome: outcome.map(str::to_owned),
            }),
            upstream: None,
            payloads: Payloads::default(),
        }
    }

    #[tokio::test]
    async fn review_outcomes_count_each_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(AuditConfig::new(dir.path()).with_mode(AuditMode::Sync)).unwrap();
        let sink = log.sink();
        for r in [
            reviewed(0, Direction::Request, "review", None),
            reviewed(1, Direction::Request, "review", Some("approved")),
            reviewed(2, Direction::Request, "allow", Some("released")),
            // The released request's answer names the same case.
            reviewed(3, Direction::Response, "allow", Some("released")),
        ] {
            sink.append(r).await.unwrap();
        }
        log.shutdown().await.unwrap();
        let rep = build_report(&open(dir.path()).unwrap(), 0, 4_102_444_800_000, None).unwrap();
        let got: Vec<(&str, u64)> = rep
            .review_outcomes
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(got, vec![("approved", 1), ("held", 1), ("released", 1)]);
    }
}
