//! `menshen`: the guardrail proxy binary.
#![allow(clippy::print_stdout)] // a CLI prints its results

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use menshen_proxy::app;
use menshen_proxy::config::{Env, ProcessEnv, Settings};
use menshen_proxy::scan::{scan_lines, scan_one, ScanInput};
use menshen_proxy::server::{self, Readiness};

/// mimalloc instead of glibc malloc: a proxied request allocates many small,
/// short-lived buffers across two threads, and glibc's arenas spent about
/// 15% of the proxy's CPU on them under load (`perf`, benches/load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Menshen: a safety and compliance guardrail proxy for LLM APIs.
#[derive(Debug, Parser)]
#[command(name = "menshen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        /// TOML config file; without it, embedded defaults with the upstream from $MENSHEN_UPSTREAM.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address (overrides the config).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run the guard pipeline on a prompt or request body (no upstream) and print findings and decision as JSON.
    Scan {
        /// Input file, or `-` for stdin.
        #[arg(default_value = "-")]
        input: String,
        /// Treat input as JSON Lines: {"text": ".."} or {"request": {..}} per line.
        #[arg(long)]
        jsonl: bool,
        /// TOML config whose guards and policy to use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the input detectors over labelled JSON Lines and print precision, recall and false-positive rate per label, plus throughput.
    Eval {
        /// Labelled data (`{"text", "label", ...}` per line), e.g. ../shared/data/*.jsonl.
        #[arg(long = "data", required = true)]
        data: Vec<PathBuf>,
        /// TOML config whose detectors to use.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Score at or above which a finding flags a row.
        #[arg(long, default_value_t = 0.5)]
        threshold: f32,
        /// Count only findings in these categories (e.g. OWASP-LLM-2025:LLM01); default all.
        #[arg(long = "category")]
        categories: Vec<String>,
    },
    /// Policy tools: run a bundle's Rego tests (like `opa test`), or evaluate an input.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Validate a config file and exit.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Print the SHA-256 to put in `[[clients]] key_sha256` for a client key read from stdin.
    HashKey,
    /// The audit log tools (same as `menshen-audit`): export, verify, show, tail, report, prune.
    #[command(disable_help_flag = true)]
    Audit {
        /// Arguments for `menshen-audit`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run every `test_*` rule of a bundle directory; exit 1 if any fails.
    Test {
        /// Bundle directory.
        dir: PathBuf,
    },
    /// Evaluate `data.menshen.decision` for an input document (JSON).
    Eval {
        /// Bundle directory.
        #[arg(long)]
        bundle: PathBuf,
        /// Input JSON file, or `-` for stdin.
        #[arg(long)]
        input: String,
    },
}

/// An env that supplies a placeholder upstream so that `scan` and
/// `check-config` work without one.
struct ScanEnv;

impl Env for ScanEnv {
    fn var(&self, key: &str) -> Option<String> {
        ProcessEnv
            .var(key)
            .or_else(|| (key == "MENSHEN_UPSTREAM").then(|| "http://127.0.0.1:9".to_owned()))
    }
}

fn load(config: Option<&PathBuf>, env: &dyn Env) -> anyhow::Result<Settings> {
    Ok(match config {
        Some(p) => Settings::load(p, env)?,
        None => Settings::embedded(env)?,
    })
}

/// [`load`] for `scan` and `eval`: a guards-only file needs no upstream.
fn load_offline(config: Option<&PathBuf>) -> anyhow::Result<Settings> {
    Ok(match config {
        Some(p) => Settings::load_offline(p, &ScanEnv)?,
        None => Settings::embedded(&ScanEnv)?,
    })
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MENSHEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .init();
}

/// Warnings for the one-shot commands (`scan`, `eval`), as plain text on
/// stderr so stdout stays pure JSON: above all the one saying the ONNX
/// classifiers were not found and the scan is rules only, which would
/// otherwise change every figure without a word.
fn init_cli_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MENSHEN_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> std::process::ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("menshen: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Replaces the default panic message on stderr with one that leaves the
/// payload out. A panic's message can quote the data it choked on (a string
/// slice panic prints the string), and that can be a prompt or a response,
/// which must never reach a log. The location and thread stay, which is what
/// a bug report needs; `MENSHEN_PANIC_MESSAGES=1` restores the payload when
/// debugging on data that may be shown.
fn quiet_panics() {
    if std::env::var_os("MENSHEN_PANIC_MESSAGES").is_some_and(|v| v == "1") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let at = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        // One report on stderr: the JSON log once logging is up (both
        // write to stderr), plain text before that.
        if tracing::dispatcher::has_been_set() {
            tracing::error!(
                thread = name,
                "panic{at} (message withheld: it can quote request text; set MENSHEN_PANIC_MESSAGES=1 to show it)"
            );
        } else {
            eprintln!("menshen: thread '{name}' panicked{at} (message withheld: it can quote request text; set MENSHEN_PANIC_MESSAGES=1 to show it)");
        }
    }));
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve { config, listen } => {
            init_tracing();
            let mut settings = load(config.as_ref(), &ProcessEnv)?;
            if let Some(l) = listen {
                settings.listen = l
                    .parse()
                    .with_context(|| format!("--listen {l:?} is not host:port"))?;
            }
            runtime()?.block_on(serve(settings))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Scan {
            input,
            jsonl,
            config,
        } => {
            init_cli_tracing();
            let mut settings = load_offline(config.as_ref())?;
            if jsonl {
                batch_timeouts(&mut settings);
            }
            let guards = Arc::new(app::build_guards(&settings)?);
            let rt = runtime()?;
            let reader: Box<dyn BufRead> = if input == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&input).with_context(|| format!("opening {input}"))?,
                ))
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if jsonl {
                let mut errors = 0usize;
                let lines = reader.lines().map_while(Result::ok);
                rt.block_on(scan_lines(guards, lines, 64, |v| {
                    if v.get("error").is_some() {
                        errors += 1;
                    }
                    let _ = writeln!(out, "{v}");
                }));
                out.flush()?;
                if errors > 0 {
                    eprintln!("menshen scan: {errors} line(s) could not be scanned (see their \"error\" field)");
                    return Ok(std::process::ExitCode::from(1));
                }
            } else {
                let mut text = String::new();
                let mut r = reader;
                r.read_to_string(&mut text)
                    .context("reading input (must be UTF-8)")?;
                let trimmed = text.trim_start();
                let input = if trimmed.starts_with('{') {
                    match serde_json::from_str::<serde_json::Value>(trimmed) {
                        Ok(v) => ScanInput::request(v, None)?,
                        Err(_) => ScanInput::text(text),
                    }
                } else {
                    ScanInput::text(text)
                };
                let v = rt.block_on(scan_one(&guards, &input));
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Eval {
            data,
            config,
            threshold,
            categories,
        } => {
            use menshen_classifiers::eval::{evaluate, load_jsonl, EvalConfig};
            init_cli_tracing();
            let settings = load_offline(config.as_ref())?;
            let guards = app::build_guards(&settings)?;
            let cfg = EvalConfig {
                threshold,
                categories: categories
                    .into_iter()
                    .map(menshen_classifiers::Category::new)
                    .collect(),
                ..EvalConfig::default()
            };
            let rt = runtime()?;
            for path in data {
                let rows =
                    load_jsonl(&path).with_context(|| format!("reading {}", path.display()))?;
                let report = rt.block_on(evaluate(&guards.input, &rows, &cfg));
                println!("== {}", path.display());
                println!("{report}");
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Policy { command } => match command {
            PolicyCommand::Test { dir } => {
                let report = menshen_policies::run_tests(&dir)
                    .with_context(|| format!("loading {}", dir.display()))?;
                print!("{}", report.render());
                Ok(if report.is_success() {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::from(1)
                })
            }
            PolicyCommand::Eval { bundle, input } => {
                let mut text = String::new();
                if input == "-" {
                    std::io::stdin().read_to_string(&mut text)?;
                } else {
                    text = std::fs::read_to_string(&input)
                        .with_context(|| format!("reading {input}"))?;
                }
                let d = menshen_policies::eval(&bundle, &text)?;
                println!("{}", serde_json::to_string_pretty(&d)?);
                Ok(std::process::ExitCode::SUCCESS)
            }
        },
        Command::CheckConfig { file } => {
            let s = Settings::load(&file, &ScanEnv)?;
            app::build_guards(&s)?;
            println!(
                "{}: ok ({} upstream(s), {} route(s), {} client key(s))",
                file.display(),
                s.upstreams.len(),
                s.routes.len(),
                s.clients.len()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Audit { args } => {
            let argv = std::iter::once(std::ffi::OsString::from("menshen audit")).chain(args);
            let code = menshen_audit::run_cli(argv);
            Ok(std::process::ExitCode::from(
                u8::try_from(code).unwrap_or(1),
            ))
        }
        Command::HashKey => {
            let mut key = String::new();
            std::io::stdin().read_line(&mut key)?;
            let key = key.trim();
            if key.is_empty() {
                bail!("no key on stdin");
            }
            use sha2::Digest;
            let digest = sha2::Sha256::digest(key.as_bytes());
            println!("{}", hex_lower(&digest));
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

use std::io::Read;

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let upstreams: BTreeMap<String, String> = settings
        .upstreams
        .iter()
        .map(|u| (u.name.clone(), format!("{:?}", u.addr)))
        .collect();
    let audit = app::open_audit(&settings).context("opening the audit log")?;
    let (log, hook) = match audit {
        Some((log, hook)) => (
            Some(log),
            Some(hook as Arc<dyn menshen_proxy::stack::AuditHook>),
        ),
        None => (None, None),
    };
    let shared = app::build_shared(settings, hook)?;
    #[cfg(unix)]
    {
        let shared = Arc::clone(&shared);
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading policies");
                    shared.guards.engine.reload();
                }
            });
        }
    }
    if shared.guards.review.is_some() {
        // Expire unanswered review cases, write outcomes whose audit record
        // failed, and delete old decided ones.
        tokio::spawn(menshen_proxy::admin::review_upkeep_loop(
            Arc::clone(&shared),
            Duration::from_secs(600),
        ));
    }
    if let Some(admin) = shared.settings.admin.clone() {
        let l = tokio::net::TcpListener::bind(admin.listen)
            .await
            .with_context(|| format!("binding the admin listener {}", admin.listen))?;
        tracing::info!(listen = %admin.listen, "admin API listening");
        tokio::spawn(menshen_proxy::admin::serve(
            l,
            Arc::clone(&shared),
            admin.key,
        ));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(listen = %listen, workers = shared.settings.workers, upstreams = ?upstreams, guards = ?shared.guards, "menshen listening");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    };
    let telemetry = shared.telemetry.clone();
    server::serve_workers(
        listener,
        shared,
        Readiness::default(),
        shutdown,
        Duration::from_secs(30),
    )
    .await?;
    if let Some(t) = telemetry {
        t.flush(Duration::from_secs(5)).await;
    }
    if let Some(log) = log {
        log.shutdown().await.context("closing the audit log")?;
        tracing::info!("audit log closed with a final checkpoint");
    }
    Ok(())
}

/// Smallest per-call ONNX timeout in `scan --jsonl`.
const BATCH_ONNX_TIMEOUT: Duration = Duration::from_secs(30);

/// `scan --jsonl` measures detection, not latency: up to 64 lines wait in the
/// ONNX queue at once, and on a busy machine the proxy's per-call budget
/// (250 ms by default) expired for most long rows of a dev set, which the
/// fail-closed setting then turned into blocks. A batch raises the budget to
/// [`BATCH_ONNX_TIMEOUT`]; a call that still fails is reported in the line's
/// `guard_failures` as before.
fn batch_timeouts(settings: &mut Settings) {
    if let Some(o) = settings.onnx.as_mut() {
        o.timeout = o.timeout.max(BATCH_ONNX_TIMEOUT);
    }
}
