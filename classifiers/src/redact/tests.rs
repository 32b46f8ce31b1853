#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
//! Redaction tests: operators, vault consistency, restoration (whole,
//! streamed, inside JSON) and the properties the issue asks for.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use super::*;
use crate::pii::{PiiConfig, PiiDetector};
use crate::secrets::SecretsDetector;
use crate::Category;

fn pii() -> &'static Arc<PiiDetector> {
    static D: OnceLock<Arc<PiiDetector>> = OnceLock::new();
    D.get_or_init(|| Arc::new(PiiDetector::new(PiiConfig::default()).unwrap()))
}

fn secrets() -> &'static Arc<SecretsDetector> {
    static D: OnceLock<Arc<SecretsDetector>> = OnceLock::new();
    D.get_or_init(|| Arc::new(SecretsDetector::new().unwrap()))
}

fn scanner() -> OutputScanner {
    OutputScanner::new(Some(Arc::clone(pii())), Some(Arc::clone(secrets())))
}

fn key() -> VaultKey {
    VaultKey::derive(b"test secret", "conv-1")
}

fn redact_all(r: &Redactor, text: &str, vault: &mut Vault) -> String {
    r.redact(text, &scanner().scan(text), vault)
}

fn finding(entity: &str, start: usize, end: usize, score: f32) -> Finding {
    Finding::new("pii", Category::SENSITIVE_INFO, score)
        .with_entity(entity)
        .with_span(Span::new(start, end))
}

#[test]
fn mask_numbers_follow_first_appearance_and_repeat_for_same_value() {
    let r = Redactor::new(RedactionConfig::new(Operator::Mask)).unwrap();
    let mut v = Vault::new(key());
    let out = redact_all(&r, "a@x.io, b@x.io, a@x.io and 13800138000", &mut v);
    assert_eq!(out, "[EMAIL_1], [EMAIL_2], [EMAIL_1] and [CN_PHONE_1]");
    // A later turn in the same conversation keeps the numbering.
    assert_eq!(redact_all(&r, "again b@x.io", &mut v), "again [EMAIL_2]");
    assert!(v.is_empty(), "masks keep no originals");
}

#[test]
fn a_second_vault_numbers_its_masks_after_the_first() {
    let mut request = Vault::new(key());
    assert_eq!(request.mask("EMAIL", "a@x.org"), "[EMAIL_1]");
    assert_eq!(request.mask("EMAIL", "b@x.org"), "[EMAIL_2]");
    assert_eq!(request.mask("PHONE", "555"), "[PHONE_1]");
    let mut answer = Vault::new(VaultKey::random());
    answer.continue_masks(&request.mask_numbers());
    assert_eq!(answer.mask("EMAIL", "c@x.org"), "[EMAIL_3]");
    assert_eq!(answer.mask("EMAIL", "c@x.org"), "[EMAIL_3]");
    assert_eq!(answer.mask("PHONE", "666"), "[PHONE_2]");
    assert_eq!(answer.mask("IBAN", "DE89"), "[IBAN_1]");
}

#[test]
fn pseudonyms_are_stable_per_conversation_and_unlinkable_across() {
    let r = Redactor::new(RedactionConfig::new(Operator::Pseudonymize)).unwrap();
    let text = "mail jane@example.com";
    let mut v1 = Vault::new(key());
    let mut v2 = Vault::new(key());
    let mut other = Vault::new(VaultKey::derive(b"test secret", "conv-2"));
    let a = redact_all(&r, text, &mut v1);
    let b = redact_all(&r, text, &mut v2);
    let c = redact_all(&r, text, &mut other);
    assert_eq!(a, b, "same conversation key, fresh vault: same placeholder");
    assert_ne!(a, c, "another conversation gets another placeholder");
    assert!(a.starts_with("mail [EMAIL_") && a.ends_with(']'));
    let token = &a["mail [EMAIL_".len()..a.len() - 1];
    assert_eq!(token.len(), 8);
    assert!(token.bytes().all(|b| b.is_ascii_uppercase()));
    assert_eq!(v1.restore(&a), text);
    assert_eq!(v1.len(), 1);
}

#[test]
fn restore_leaves_unknown_brackets_alone() {
    let mut v = Vault::new(key());
    let p = v.pseudonym("EMAIL", "x@y.io");
    let text = format!("[EMAIL_AAAAAAAA] [not a placeholder] [{} {p}] []", "EMAIL_");
    assert_eq!(
        v.restore(&text),
        "[EMAIL_AAAAAAAA] [not a placeholder] [EMAIL_ x@y.io] []"
    );
}

#[test]
fn json_restore_escapes_originals() {
    let mut v = Vault::new(key());
    let p = v.pseudonym("GENERIC_SECRET", r#"pa"ss\word"#);
    let args = format!(r#"{{"password":"{p}"}}"#);
    let restored = v.restore_json(&args);
    let parsed: serde_json::Value = serde_json::from_str(&restored).unwrap();
    assert_eq!(parsed["password"], r#"pa"ss\word"#);
    // Streamed tool-call argument deltas, split inside the placeholder.
    let mut r = v.json_restorer();
    let (a, b) = args.split_at(17);
    let mut out = r.push(a);
    out.push_str(&r.push(b));
    out.push_str(&r.finish());
    assert_eq!(out, restored);
}

#[test]
fn restorer_handles_every_split_point() {
    let mut v = Vault::new(key());
    let p1 = v.pseudonym("EMAIL", "jane@example.com");
    let p2 = v.pseudonym("CN_PHONE", "13800138000");
    let text = format!("Hi {p1}, call {p2}[x] or [{p1}]");
    let want = v.restore(&text);
    assert_eq!(
        want,
        "Hi jane@example.com, call 13800138000[x] or [jane@example.com]"
    );
    for i in 0..=text.len() {
        for j in i..=text.len() {
            let mut r = v.restorer();
            let mut out = r.push(&text[..i]);
            out.push_str(&r.push(&text[i..j]));
            out.push_str(&r.push(&text[j..]));
            out.push_str(&r.finish());
            assert_eq!(out, want, "split at {i}, {j}");
        }
    }
}

#[test]
fn restorer_holds_back_only_a_possible_placeholder_prefix() {
    let v = Vault::new(key());
    let mut r = v.restorer();
    assert_eq!(r.push("hello [EMA"), "hello ");
    assert_eq!(r.held(), 4);
    assert_eq!(r.push("il] and more"), "[EMAil] and more");
    assert_eq!(r.held(), 0);
    assert_eq!(r.push("[A"), "");
    assert_eq!(r.finish(), "[A");
}

#[test]
fn overlaps_resolve_longest_then_highest_score() {
    let r = Redactor::new(RedactionConfig::new(Operator::Mask)).unwrap();
    let mut v = Vault::new(key());
    let text = "0123456789";
    let f = [
        finding("A", 0, 4, 0.9),
        finding("B", 2, 8, 0.5),
        finding("C", 8, 10, 0.4),
        finding("D", 8, 10, 0.8),
        finding("E", 3, 20, 1.0), // out of range: skipped
        Finding::new("rules", Category::PROMPT_INJECTION, 1.0).with_span(Span::new(0, 10)),
    ];
    assert_eq!(r.redact(text, &f, &mut v), "01[B_1][D_1]");
}

#[test]
fn partial_mask_keeps_last_four_and_separators() {
    let r = Redactor::new(
        RedactionConfig::new(Operator::Mask)
            .with_operator("CREDIT_CARD", Operator::PartialMask { visible: 4 }),
    )
    .unwrap();
    let mut v = Vault::new(key());
    assert_eq!(
        redact_all(&r, "card 4111 1111 1111 1111 ok", &mut v),
        "card **** **** **** 1111 ok"
    );
    assert_eq!(partial_mask("粤B12345", 2), "*****45");
}

#[test]
fn hash_needs_a_key_and_is_keyed_and_stable() {
    let err =
        Redactor::new(RedactionConfig::new(Operator::Mask).with_operator("EMAIL", Operator::Hash))
            .unwrap_err();
    assert_eq!(
        err,
        RedactError::MissingHashKey {
            entity: "EMAIL".into()
        }
    );
    assert!(HashKey::new(b"short".to_vec()).is_err());
    let mk = |k: &[u8]| {
        Redactor::new(
            RedactionConfig::new(Operator::Hash).with_hash_key(HashKey::new(k.to_vec()).unwrap()),
        )
        .unwrap()
    };
    let (r1, r2) = (mk(b"0123456789abcdef"), mk(b"fedcba9876543210"));
    let mut v = Vault::new(key());
    let mut w = Vault::new(VaultKey::random());
    let a = redact_all(&r1, "x a@b.io", &mut v);
    assert_eq!(
        a,
        redact_all(&r1, "x a@b.io", &mut w),
        "independent of the conversation"
    );
    assert_ne!(a, redact_all(&r2, "x a@b.io", &mut v), "depends on the key");
    let digest = a
        .strip_prefix("x [EMAIL_HASH_")
        .and_then(|s| s.strip_suffix(']'))
        .unwrap();
    assert_eq!(digest.len(), 16);
    assert!(digest.bytes().all(|b| (b'a'..=b'p').contains(&b)));
    assert!(!format!("{:?}", HashKey::new(b"0123456789abcdef".to_vec()).unwrap()).contains("0123"));
}

#[test]
fn drop_and_keep() {
    let r = Redactor::new(
        RedactionConfig::new(Operator::Drop).with_operator("IP_ADDRESS", Operator::Keep),
    )
    .unwrap();
    let mut v = Vault::new(key());
    assert_eq!(
        redact_all(&r, "from 203.0.113.9 by a@b.io.", &mut v),
        "from 203.0.113.9 by ."
    );
}

#[test]
fn vault_debug_never_shows_values() {
    let mut v = Vault::new(key());
    v.pseudonym("EMAIL", "secret@example.com");
    let d = format!("{v:?} {:?} {:?}", key(), v.restorer());
    assert!(!d.contains("secret@"), "{d}");
    assert!(d.contains("pseudonyms: 1"));
}

#[test]
fn concurrent_conversations_have_independent_vaults() {
    let r = Arc::new(Redactor::new(RedactionConfig::new(Operator::Pseudonymize)).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                let mut v = Vault::new(VaultKey::derive(b"s", &format!("conv-{i}")));
                let text = format!("user{i}@example.com");
                let red = redact_all(&r, &text, &mut v);
                (red.clone(), v.restore(&red) == text, v.len())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|(_, ok, n)| *ok && *n == 1));
}

#[test]
fn stream_redactor_holds_pem_until_its_end_line() {
    let r = Arc::new(Redactor::new(RedactionConfig::new(Operator::Mask)).unwrap());
    let mut v = Vault::new(key());
    let mut s = StreamRedactor::new(scanner(), r);
    let mut out = s.push("Here is the key:\n-----BEGIN PRIVATE KEY-----\n", &mut v);
    for _ in 0..40 {
        out.push_str(&s.push(
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n",
            &mut v,
        ));
    }
    assert!(
        !out.contains("MIIEvQ"),
        "no key body released before the END line"
    );
    out.push_str(&s.push("-----END PRIVATE KEY-----\nDone.", &mut v));
    out.push_str(&s.finish(&mut v));
    assert_eq!(out, "Here is the key:\n[PRIVATE_KEY_1]\nDone.");
}

// === properties ===

fn pii_atom() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "4111 1111 1111 1111",
        "jane.doe@example.com",
        "身份证 11010519491231002X",
        "+86 138 0013 8000",
        "GB82 WEST 1234 5698 7654 32",
        "SSN 219-45-6781",
        "10.1.2.33",
        "00:1A:2B:3C:4D:5E",
        "password: Tr0ub4dor&3",
        "AKIAIOSFODNN7EXAMPLE",
        "postgres://u:p4ss@db.example.com/x",
        "hello world",
        "你好，世界",
        "plain text with nothing",
    ])
    .prop_map(str::to_owned)
}

fn pii_doc() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            pii_atom(),
            prop::sample::select(vec![" and ", "\n", "。", "; "]),
        ),
        0..60,
    )
    .prop_map(|v| v.into_iter().map(|(a, s)| format!("{a}{s}")).collect())
}

fn operator() -> impl Strategy<Value = Operator> {
    prop::sample::select(vec![
        Operator::Mask,
        Operator::Pseudonymize,
        Operator::PartialMask { visible: 4 },
        Operator::Hash,
        Operator::Drop,
    ])
}

fn chunks(s: &str, cuts: &[usize]) -> Vec<String> {
    let mut idx: Vec<usize> = cuts
        .iter()
        .map(|c| c % (s.len() + 1))
        .filter(|c| s.is_char_boundary(*c))
        .collect();
    idx.sort_unstable();
    idx.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for i in idx {
        out.push(s[last..i].to_owned());
        last = i;
    }
    out.push(s[last..].to_owned());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn redacting_twice_changes_nothing(doc in pii_doc(), op in operator()) {
        let r = Redactor::new(
            RedactionConfig::new(op).with_hash_key(HashKey::new(b"0123456789abcdef".to_vec()).unwrap()),
        ).unwrap();
        let mut v = Vault::new(key());
        let once = redact_all(&r, &doc, &mut v);
        let twice = redact_all(&r, &once, &mut v);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn pseudonyms_round_trip_whole_and_chunked(doc in pii_doc(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let r = Redactor::new(RedactionConfig::new(Operator::Pseudonymize)).unwrap();
        let mut v = Vault::new(key());
        let red = redact_all(&r, &doc, &mut v);
        prop_assert_eq!(v.restore(&red), doc.clone());
        let mut rs = v.restorer();
        let mut out = String::new();
        for c in chunks(&red, &cuts) {
            out.push_str(&rs.push(&c));
        }
        out.push_str(&rs.finish());
        prop_assert_eq!(out, doc);
    }

    #[test]
    fn stream_redaction_matches_whole_text_redaction(doc in pii_doc(), cuts in prop::collection::vec(any::<usize>(), 0..24)) {
        let r = Arc::new(Redactor::new(RedactionConfig::new(Operator::Mask)).unwrap());
        let mut whole_vault = Vault::new(key());
        let whole = redact_all(&r, &doc, &mut whole_vault);
        let mut v = Vault::new(key());
        let mut s = StreamRedactor::new(scanner(), Arc::clone(&r));
        let mut out = String::new();
        for c in chunks(&doc, &cuts) {
            out.push_str(&s.push(&c, &mut v));
        }
        out.push_str(&s.finish(&mut v));
        prop_assert_eq!(out, whole);
    }

    #[test]
    fn restore_of_arbitrary_text_never_panics(s in "\\PC{0,200}", cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut v = Vault::new(key());
        v.pseudonym("EMAIL", "a@b.io");
        let whole = v.restore(&s);
        let mut r = v.restorer();
        let mut out = String::new();
        for c in chunks(&s, &cuts) {
            out.push_str(&r.push(&c));
        }
        out.push_str(&r.finish());
        prop_assert_eq!(out, whole);
    }
}
