//! The inference worker pool: dynamic micro-batching off the async runtime.
//!
//! Callers submit a text; a worker thread tokenizes it, splits it into
//! windows and runs the windows of *several* queued texts in one session call.
//! A batch is flushed when it holds `max_batch` windows or when the first
//! request in it has waited `max_wait`. The queue is bounded: when it is full
//! a call fails at once with [`OnnxErrorKind::Overloaded`] instead of queueing
//! without limit (backpressure). Each request carries its deadline; a worker
//! drops requests whose caller already gave up, so a backlog drains fast.
//!
//! How a batch fails: an ONNX Runtime error, or an output of the wrong
//! shape, answers every request of that batch with
//! [`OnnxErrorKind::Inference`]; the worker logs when its runs start failing
//! and when they work again (not per request: the pipeline counts each
//! failed request in `menshen_guard_failures_total`). A panic while handling
//! a batch (a bug here or in a dependency) is caught: every request of the
//! batch still waiting is answered with [`OnnxErrorKind::Inference`] at once,
//! the panic is logged once (never its message, which may quote the text)
//! and counted ([`InferencePool::worker_panics`]), and the worker goes on
//! serving the queue with its session, which holds no per-batch state.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ort::session::Session;
use ort::value::Tensor;
use parking_lot::Mutex;
use tokenizers::Tokenizer;
use tokio::sync::oneshot;

use super::config::{ModelManifest, PoolConfig};
use super::error::{OnnxError, OnnxErrorKind};
use super::runtime::OnnxRuntime;
use super::window::{windows, TokenWindow};
use crate::Span;

/// The scores of one window of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowScores {
    /// Byte span of the window in the text.
    pub span: Span,
    /// One probability per model output column.
    pub probs: Vec<f32>,
}

/// A text that makes a worker panic, so that tests can check what the
/// pool does then. Compiled into test builds only: no configuration or
/// input can reach it in a release.
#[cfg(test)]
pub(super) const PANIC_TEXT: &str = "\u{0}menshen test: panic in the onnx worker\u{0}";

type Reply = oneshot::Sender<Result<Vec<WindowScores>, OnnxError>>;

struct Job {
    text: Arc<str>,
    deadline: Instant,
    /// Taken by the first answer, so a job is answered at most once, also
    /// when a panic interrupts its batch.
    reply: Option<Reply>,
    admitted: Option<Admission>,
}

/// One admitted request; releases its slot when the job is answered (or
/// dropped unanswered), so the bound covers requests both waiting and
/// running.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running pool of inference workers for one model.
#[derive(Debug)]
pub struct InferencePool {
    tx: Mutex<Option<Sender<Job>>>,
    inflight: Arc<AtomicUsize>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    panics: Arc<AtomicU64>,
    config: PoolConfig,
}

struct Worker {
    session: Session,
    tokenizer: Arc<Tokenizer>,
    manifest: Arc<ModelManifest>,
    rx: Arc<Mutex<Receiver<Job>>>,
    config: PoolConfig,
    n_outputs: usize,
    panics: Arc<AtomicU64>,
    /// Whether the last batch failed, so that a run of failures is logged
    /// once when it starts and once when it ends.
    failing: bool,
}

impl InferencePool {
    /// Builds one session per worker (all before returning, so a broken
    /// model fails start-up, not the first request) and starts the workers.
    ///
    /// # Errors
    /// Config, model and tokenizer errors, naming the path.
    pub fn start(
        runtime: &OnnxRuntime,
        model: &Path,
        tokenizer: Arc<Tokenizer>,
        manifest: Arc<ModelManifest>,
        config: PoolConfig,
    ) -> Result<Self, OnnxError> {
        config.validate()?;
        let mut sessions = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            let s = runtime.session(model, &config)?;
            check_io(&s, model, manifest.outputs.len())?;
            sessions.push(s);
        }
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        let panics = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::with_capacity(sessions.len());
        for (i, session) in sessions.into_iter().enumerate() {
            let w = Worker {
                session,
                tokenizer: Arc::clone(&tokenizer),
                manifest: Arc::clone(&manifest),
                rx: Arc::clone(&rx),
                config: config.clone(),
                n_outputs: manifest.outputs.len(),
                panics: Arc::clone(&panics),
                failing: false,
            };
            let h = std::thread::Builder::new()
                .name(format!("onnx-{}-{i}", manifest.name))
                .spawn(move || w.run())
                .map_err(|e| {
                    OnnxError::new(OnnxErrorKind::Config, format!("cannot spawn worker: {e}"))
                })?;
            handles.push(h);
        }
        Ok(InferencePool {
            tx: Mutex::new(Some(tx)),
            inflight: Arc::new(AtomicUsize::new(0)),
            workers: Mutex::new(handles),
            panics,
            config,
        })
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Scores `text` window by window, waiting at most the configured timeout.
    ///
    /// # Errors
    /// [`OnnxErrorKind::Overloaded`] when the queue is full,
    /// [`OnnxErrorKind::Timeout`] past the deadline, [`OnnxErrorKind::Closed`]
    /// after shutdown, [`OnnxErrorKind::Inference`] when the session fails.
    pub async fn score(&self, text: Arc<str>) -> Result<Vec<WindowScores>, OnnxError> {
        let deadline = Instant::now()
            .checked_add(self.config.timeout)
            .unwrap_or_else(Instant::now);
        let cap = self.config.queue_capacity;
        let admitted = self
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then(|| n.saturating_add(1))
            })
            .is_ok();
        if !admitted {
            return Err(OnnxError::new(
                OnnxErrorKind::Overloaded,
                format!("inference queue full ({cap} requests waiting or running)"),
            ));
        }
        let (reply, rx) = oneshot::channel();
        let job = Job {
            text,
            deadline,
            reply: Some(reply),
            admitted: Some(Admission(Arc::clone(&self.inflight))),
        };
        {
            let guard = self.tx.lock();
            let tx = guard
                .as_ref()
                .ok_or_else(|| OnnxError::new(OnnxErrorKind::Closed, "pool is shut down"))?;
            tx.send(job)
                .map_err(|_| OnnxError::new(OnnxErrorKind::Closed, "workers are gone"))?;
        }
        match tokio::time::timeout(self.config.timeout, rx).await {
            Ok(Ok(res)) => res,
            Ok(Err(_)) => Err(OnnxError::new(
                OnnxErrorKind::Closed,
                "worker dropped the request",
            )),
            Err(_) => Err(OnnxError::new(
                OnnxErrorKind::Timeout,
                format!("no result within {:?}", self.config.timeout),
            )),
        }
    }

    /// Stops accepting work and joins the workers after they drain the queue.
    pub fn shutdown(&self) {
        drop(self.tx.lock().take());
        for h in self.workers.lock().drain(..) {
            if h.join().is_err() {
                tracing::error!("onnx worker panicked");
            }
        }
    }

    /// Requests currently admitted (waiting or running).
    pub fn in_flight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Panics caught in the workers since start (each failed the requests
    /// of one batch).
    pub fn worker_panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

impl Drop for InferencePool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn check_io(s: &Session, model: &Path, n_outputs: usize) -> Result<(), OnnxError> {
    let names: Vec<&str> = s.inputs().iter().map(|i| i.name()).collect();
    for want in ["input_ids", "attention_mask"] {
        if !names.contains(&want) {
            return Err(OnnxError::at(
                OnnxErrorKind::ModelInvalid,
                model,
                format!("model has no input `{want}` (inputs: {names:?})"),
            ));
        }
    }
    if !s.outputs().iter().any(|o| o.name() == "probs") {
        return Err(OnnxError::at(
            OnnxErrorKind::ModelInvalid,
            model,
            "model has no output `probs`",
        ));
    }
    if n_outputs == 0 {
        return Err(OnnxError::at(
            OnnxErrorKind::ModelInvalid,
            model,
            "manifest lists no outputs",
        ));
    }
    Ok(())
}

// === impl Job ===

impl Job {
    /// Sends `res` unless the job was answered already; returns whether
    /// this call answered it. The slot is freed first, so a caller that saw
    /// its answer never finds its own request still counted.
    fn answer(&mut self, res: Result<Vec<WindowScores>, OnnxError>) -> bool {
        drop(self.admitted.take());
        match self.reply.take() {
            Some(reply) => {
                // The receiver may have timed out meanwhile; nothing to do then.
                let _ = reply.send(res);
                true
            }
            None => false,
        }
    }
}

// === impl Worker ===

/// One tokenized window waiting for inference, and whose request it belongs to.
struct Item {
    job: usize,
    window: TokenWindow,
}

impl Worker {
    fn run(mut self) {
        loop {
            let Some(mut jobs) = self.collect() else {
                return;
            };
            // The jobs stay out here, so that whatever `process` did not
            // answer before a panic is answered below, not left to time out.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.process(&mut jobs)));
            if outcome.is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
                let mut failed = 0usize;
                for job in &mut jobs {
                    if job.answer(Err(OnnxError::new(
                        OnnxErrorKind::Inference,
                        "the inference worker panicked on this batch",
                    ))) {
                        failed = failed.saturating_add(1);
                    }
                }
                // The payload is not logged: a panic message may quote the
                // text being scored.
                tracing::error!(
                    onnx.model = %self.manifest.name,
                    onnx.failed_requests = failed,
                    "onnx inference worker panicked; its batch failed, the worker keeps serving"
                );
            }
        }
    }

    /// Blocks for the first job, then gathers more until the batch is full
    /// or `max_wait` has passed since the first arrived. Holding the receiver
    /// lock while gathering keeps one batch from being split across workers.
    fn collect(&self) -> Option<Vec<Job>> {
        let rx = self.rx.lock();
        let first = rx.recv().ok()?;
        let flush_at = Instant::now()
            .checked_add(self.config.max_wait)
            .unwrap_or_else(Instant::now);
        let mut windows = self.estimate_windows(&first.text);
        let mut jobs = vec![first];
        while windows < self.config.max_batch {
            let now = Instant::now();
            let Some(left) = flush_at
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
            else {
                break;
            };
            match rx.recv_timeout(left) {
                Ok(j) => {
                    windows = windows.saturating_add(self.estimate_windows(&j.text));
                    jobs.push(j);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Some(jobs)
    }

    /// Cheap upper-bound guess of a text's windows (one token per byte at
    /// most), used only to decide when a batch is full.
    fn estimate_windows(&self, text: &str) -> usize {
        let stride = self.manifest.stride_tokens.max(1);
        text.len().div_ceil(stride).max(1)
    }

    fn process(&mut self, jobs: &mut [Job]) {
        let now = Instant::now();
        // Index into `jobs` and the scores gathered for it.
        let mut live: Vec<(usize, Vec<WindowScores>)> = Vec::with_capacity(jobs.len());
        let mut items: Vec<Item> = Vec::new();
        for (j, job) in jobs.iter_mut().enumerate() {
            if job.deadline <= now || job.reply.as_ref().is_none_or(|r| r.is_closed()) {
                // The caller has timed out or gone: skip the work, and say
                // why to a caller still waiting (not "worker dropped it").
                job.answer(Err(OnnxError::new(
                    OnnxErrorKind::Timeout,
                    "deadline passed before inference started",
                )));
                continue;
            }
            #[cfg(test)]
            if &*job.text == PANIC_TEXT {
                panic!("test-injected worker panic");
            }
            match self.tokenizer.encode(&*job.text, false) {
                Ok(enc) => {
                    let idx = live.len();
                    for w in windows(
                        &enc,
                        self.manifest.window_tokens,
                        self.manifest.stride_tokens,
                    ) {
                        items.push(Item {
                            job: idx,
                            window: w,
                        });
                    }
                    live.push((j, Vec::new()));
                }
                Err(e) => {
                    job.answer(Err(OnnxError::new(
                        OnnxErrorKind::Inference,
                        format!("tokenizer failed: {e}"),
                    )));
                }
            }
        }
        let mut failed: Option<String> = None;
        for chunk in items.chunks(self.config.max_batch.max(1)) {
            match self.run_batch(chunk) {
                Ok(rows) => {
                    for (item, probs) in chunk.iter().zip(rows) {
                        if let Some((_, out)) = live.get_mut(item.job) {
                            out.push(WindowScores {
                                span: item.window.span,
                                probs,
                            });
                        }
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if !items.is_empty() {
            self.note_outcome(failed.as_deref(), live.len());
        }
        for (j, scores) in live {
            let res = match &failed {
                Some(msg) => Err(OnnxError::new(OnnxErrorKind::Inference, msg.clone())),
                None => Ok(scores),
            };
            if let Some(job) = jobs.get_mut(j) {
                job.answer(res);
            }
        }
    }

    /// Logs the start and the end of a run of failing batches. ONNX Runtime
    /// messages name nodes and shapes, never the text.
    fn note_outcome(&mut self, failed: Option<&str>, requests: usize) {
        match (failed, self.failing) {
            (Some(msg), false) => {
                tracing::error!(
                    onnx.model = %self.manifest.name,
                    onnx.failed_requests = requests,
                    error = %msg,
                    "onnx inference failed; the batch's requests get an error (logged again only once it recovers)"
                );
                self.failing = true;
            }
            (None, true) => {
                tracing::warn!(onnx.model = %self.manifest.name, "onnx inference works again");
                self.failing = false;
            }
            _ => {}
        }
    }

    /// Runs one padded batch; returns one row of probabilities per item.
    fn run_batch(&mut self, chunk: &[Item]) -> Result<Vec<Vec<f32>>, String> {
        let b = chunk.len();
        let len = chunk
            .iter()
            .map(|i| i.window.ids.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let cells = b.checked_mul(len).ok_or("batch too large")?;
        let mut ids = vec![0i64; cells];
        let mut mask = vec![0i64; cells];
        for (r, item) in chunk.iter().enumerate() {
            let base = r.saturating_mul(len);
            for (c, &id) in item.window.ids.iter().enumerate() {
                let at = base.saturating_add(c);
                if let (Some(slot), Some(m)) = (ids.get_mut(at), mask.get_mut(at)) {
                    *slot = i64::from(id);
                    *m = 1;
                }
            }
        }
        let ids = Tensor::from_array(([b, len], ids)).map_err(|e| e.to_string())?;
        let mask = Tensor::from_array(([b, len], mask)).map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| e.to_string())?;
        let probs = outputs.get("probs").ok_or("model returned no `probs`")?;
        let (shape, data) = probs
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        let k = self.n_outputs;
        let expect_k = usize::try_from(shape.get(1).copied().unwrap_or(0)).unwrap_or(0);
        if shape.len() != 2 || expect_k != k || data.len() != b.saturating_mul(k) {
            return Err(format!(
                "`probs` has shape {shape:?}, expected [{b}, {k}] (manifest lists {k} outputs)"
            ));
        }
        Ok(data.chunks(k).map(<[f32]>::to_vec).collect())
    }
}
