//! PII and secrets scan throughput, redaction and restoration.
//!
//! ```text
//! cargo bench -p menshen-benches --bench pii_scan
//! ```
//! Inputs are built in memory: "clean" is typical English and Chinese prose
//! with ordinary numbers; "pii" is the same prose with one PII or secret value
//! every ~300 bytes. The adversarial group feeds inputs designed to make a
//! candidate-then-validate scanner work hardest (endless digit runs, `@`
//! storms, unclosed placeholders) and checks that cost stays linear.
//!
//! Reference (2026-11-30, shared 2-core CI VM, other builds running, so
//! treat as lower bounds; MiB/s of input):
//!
//! | case                               | 1 KB | 16 KB | 256 KB |
//! |------------------------------------|-----:|------:|-------:|
//! | pii_scan, clean prose              |  305 |   301 |    297 |
//! | pii_scan, one value per ~300 B     |   61 |    65 |     67 |
//! | secrets_scan, clean                |  292 |   317 |    277 |
//! | pii + secrets + redact, clean      |  135 |   139 |    147 |
//! | pii + secrets + redact, dense PII  |   34 |    39 |     39 |
//!
//! Streaming (16 KB in 8-byte chunks): output redaction 4.6 MiB/s,
//! pseudonym restoration 74 MiB/s. Adversarial, 16 KB / 256 KB (linear):
//! spaced digits 13.6 / 14.5, dashed groups 11.3 / 9.5, hex colons
//! 21.7 / 27.4, keyword storm 73.6 / 71.8.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use menshen_classifiers::pii::{PiiConfig, PiiDetector};
use menshen_classifiers::redact::{
    Operator, OutputScanner, RedactionConfig, Redactor, StreamRedactor, Vault, VaultKey,
};
use menshen_classifiers::secrets::SecretsDetector;

const PROSE: &[&str] = &[
    "The committee met on Tuesday to review the 2024 budget, which grew by 12 percent over the previous year. ",
    "Please summarise the attached report in three bullet points and suggest two follow-up questions. ",
    "会议讨论了第三季度的销售数据，总收入约为120万元，比去年同期增长了8%。 ",
    "In chapter 7 the author argues that small teams ship faster, citing 42 case studies from 1998 to 2015. ",
    "请把下面这段话翻译成英文，并保持原文的语气和风格。 ",
    "Version 3.2 fixed 17 bugs; the remaining 5 are tracked for the next release in March. ",
];

const PII: &[&str] = &[
    "Contact jane.doe@example.com for details. ",
    "My card is 4111 1111 1111 1111. ",
    "身份证号：11010519491231002X。 ",
    "手机 138 0013 8000 ",
    "IBAN GB82 WEST 1234 5698 7654 32 ",
    "SSN: 219-45-6781 ",
    "key AKIAIOSFODNN7EXAMPLE ",
    "password: Tr0ub4dor&3 ",
];

fn build(size: usize, with_pii: bool) -> String {
    let mut s = String::with_capacity(size + 256);
    let (mut i, mut j) = (0usize, 0usize);
    while s.len() < size {
        s.push_str(PROSE[i % PROSE.len()]);
        i += 1;
        if with_pii && i % 2 == 0 {
            s.push_str(PII[j % PII.len()]);
            j += 1;
        }
    }
    let mut end = size.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

const SIZES: &[(usize, &str)] = &[(1 << 10, "1KB"), (16 << 10, "16KB"), (256 << 10, "256KB")];

fn configure(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("pii");
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    g
}

fn scan(c: &mut Criterion) {
    let pii = PiiDetector::new(PiiConfig::default()).unwrap();
    let secrets = SecretsDetector::new().unwrap();
    let mut g = configure(c);
    for &(size, label) in SIZES {
        for with_pii in [false, true] {
            let text = build(size, with_pii);
            let kind = if with_pii { "pii" } else { "clean" };
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("pii_scan/{kind}"), label),
                &text,
                |b, t| b.iter(|| pii.scan_text(t)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("secrets_scan/{kind}"), label),
                &text,
                |b, t| b.iter(|| secrets.scan_text(t)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("pii+secrets+redact/{kind}"), label),
                &text,
                |b, t| {
                    let redactor = Redactor::new(RedactionConfig::default()).unwrap();
                    b.iter(|| {
                        let mut f = pii.scan_text(t);
                        f.extend(secrets.scan_text(t));
                        let mut vault = Vault::new(VaultKey::from_bytes([7; 32]));
                        redactor.redact(t, &f, &mut vault)
                    })
                },
            );
        }
    }
    g.finish();
}

fn streaming(c: &mut Criterion) {
    let pii = Arc::new(PiiDetector::new(PiiConfig::default()).unwrap());
    let secrets = Arc::new(SecretsDetector::new().unwrap());
    let redactor = Arc::new(Redactor::new(RedactionConfig::new(Operator::Pseudonymize)).unwrap());
    let text = build(16 << 10, true);
    let mut g = configure(c);
    g.throughput(Throughput::Bytes(text.len() as u64));
    // Output guard: 16 KB answer in 8-byte chunks (about two tokens each).
    g.bench_function("stream_redact/16KB_in_8B_chunks", |b| {
        b.iter(|| {
            let scanner = OutputScanner::new(Some(Arc::clone(&pii)), Some(Arc::clone(&secrets)));
            let mut s = StreamRedactor::new(scanner, Arc::clone(&redactor));
            let mut vault = Vault::new(VaultKey::from_bytes([7; 32]));
            let mut n = 0usize;
            for chunk in text.as_bytes().chunks(8) {
                if let Ok(c) = std::str::from_utf8(chunk) {
                    n += s.push(c, &mut vault).len();
                }
            }
            n + s.finish(&mut vault).len()
        })
    });
    // Restoring pseudonyms in a streamed answer.
    let mut vault = Vault::new(VaultKey::from_bytes([7; 32]));
    let mut f = pii.scan_text(&text);
    f.extend(secrets.scan_text(&text));
    let redacted = redactor.redact(&text, &f, &mut vault);
    g.throughput(Throughput::Bytes(redacted.len() as u64));
    g.bench_function("restore_stream/16KB_in_8B_chunks", |b| {
        b.iter(|| {
            let mut r = vault.restorer();
            let mut n = 0usize;
            for chunk in redacted.as_bytes().chunks(8) {
                if let Ok(c) = std::str::from_utf8(chunk) {
                    n += r.push(c).len();
                }
            }
            n + r.finish().len()
        })
    });
    g.finish();
}

fn adversarial(c: &mut Criterion) {
    let pii = PiiDetector::new(PiiConfig::default()).unwrap();
    let secrets = SecretsDetector::new().unwrap();
    let vault = Vault::new(VaultKey::from_bytes([7; 32]));
    let cases: &[(&str, &str)] = &[
        ("digit_run", "1"),
        ("spaced_digits", "1 "),
        ("dashed_groups", "12-"),
        ("at_storm", "a@"),
        ("hex_colons", "a:"),
        ("keyword_storm", "password="),
        ("open_brackets", "[EMAIL_"),
        ("cjk_digits", "号1"),
    ];
    let mut g = configure(c);
    for &(name, unit) in cases {
        for &(size, label) in &SIZES[1..] {
            let text = unit.repeat(size / unit.len());
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("adversarial/{name}"), label),
                &text,
                |b, t| {
                    b.iter(|| {
                        (
                            pii.scan_text(t).len(),
                            secrets.scan_text(t).len(),
                            vault.restore(t).len(),
                        )
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, scan, streaming, adversarial);
criterion_main!(benches);
