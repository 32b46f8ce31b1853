#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
//! PII detector tests: the data-driven corpus in `classifiers/testdata/pii_*.toml`,
//! synthetic Chinese identifiers with valid checksums, and property tests.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

fn det() -> &'static PiiDetector {
    static D: OnceLock<PiiDetector> = OnceLock::new();
    D.get_or_init(|| PiiDetector::new(PiiConfig::default()).unwrap())
}

fn found(text: &str) -> Vec<(String, String)> {
    det()
        .entities(text)
        .into_iter()
        .map(|(s, e)| (e.as_str().to_owned(), text[s.start..s.end].to_owned()))
        .collect()
}

// === corpus ===

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    text: String,
    #[serde(default)]
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    entity: String,
    /// The exact matched text; its first occurrence fixes the span.
    value: String,
    /// Optional byte span, checked when given.
    span: Option<[usize; 2]>,
}

fn run_corpus(name: &str, src: &str) {
    let corpus: Corpus = toml::from_str(src).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut failures = Vec::new();
    for case in &corpus.case {
        let got = det().entities(&case.text);
        let want: Vec<(String, Span)> =
            case.expect
                .iter()
                .map(|e| {
                    let start = case.text.find(&e.value).unwrap_or_else(|| {
                        panic!("{}: value {:?} not in text", case.name, e.value)
                    });
                    let span = Span::new(start, start + e.value.len());
                    if let Some([a, b]) = e.span {
                        assert_eq!(Span::new(a, b), span, "{}: span", case.name);
                    }
                    (e.entity.clone(), span)
                })
                .collect();
        let got: Vec<(String, Span)> = got
            .into_iter()
            .map(|(s, e)| (e.as_str().to_owned(), s))
            .collect();
        if got != want {
            let show = |v: &[(String, Span)]| -> Vec<String> {
                v.iter()
                    .map(|(e, s)| format!("{e}:{:?}", &case.text[s.start..s.end]))
                    .collect()
            };
            failures.push(format!(
                "{}: want {:?} got {:?}",
                case.name,
                show(&want),
                show(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed:\n{}",
        failures.len(),
        corpus.case.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_en() {
    run_corpus("pii_en", include_str!("../../testdata/pii_en.toml"));
}

#[test]
fn corpus_zh() {
    run_corpus("pii_zh", include_str!("../../testdata/pii_zh.toml"));
}

#[test]
fn corpus_benign() {
    run_corpus("pii_benign", include_str!("../../testdata/pii_benign.toml"));
}

// === synthetic Chinese identifiers ===

/// A resident ID with a correct GB 11643 check character.
fn make_rid(region: u32, y: u32, m: u32, d: u32, seq: u32) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let body = format!("{region:06}{y:04}{m:02}{d:02}{seq:03}");
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// A unified social credit code with a correct GB 32100 check character.
fn make_uscc(body17: &str) -> String {
    const A: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: usize = body17
        .chars()
        .zip(W)
        .map(|(c, w)| A.find(c).unwrap() * w)
        .sum();
    let c = (31 - sum % 31) % 31;
    format!("{body17}{}", A.as_bytes()[c] as char)
}

#[test]
fn synthetic_resident_ids_are_found_everywhere_in_a_sentence() {
    for (i, region) in [110101u32, 310104, 440305, 510107, 650102]
        .into_iter()
        .enumerate()
    {
        let id = make_rid(
            region,
            1960 + i as u32 * 9,
            1 + i as u32,
            3 + i as u32 * 5,
            17 + i as u32,
        );
        for text in [
            format!("身份证号码：{id}"),
            format!("{id}是他的证件"),
            format!("ID {id}, thanks"),
            format!("请核对{id}。"),
        ] {
            assert_eq!(
                found(&text),
                [("CN_RESIDENT_ID".to_owned(), id.clone())],
                "{text}"
            );
        }
    }
}

#[test]
fn resident_id_checksum_failure_lowers_confidence_but_context_keeps_it() {
    let id = make_rid(110101, 1990, 3, 7, 123);
    let last = id.as_bytes()[17];
    let bad_last = if last == b'0' { '1' } else { '0' };
    let bad = format!("{}{bad_last}", &id[..17]);
    let with_ctx = det().scan_text(&format!("身份证：{bad}"));
    assert_eq!(with_ctx.len(), 1);
    assert_eq!(with_ctx[0].entity.as_deref(), Some("CN_RESIDENT_ID"));
    let good = det().scan_text(&format!("身份证：{id}"));
    assert!(good[0].score > with_ctx[0].score);
    // Without context a bad checksum is not reported as an ID.
    assert!(found(&format!("编号 {bad} 已登记"))
        .iter()
        .all(|(e, _)| e != "CN_RESIDENT_ID"));
}

#[test]
fn synthetic_uscc_codes_validate() {
    for body in [
        "91350100M000100Y4",
        "91110000802100433",
        "12100000400000624",
    ] {
        let code = make_uscc(body);
        assert_eq!(
            found(&format!("统一社会信用代码：{code}")),
            [("CN_USCC".to_owned(), code.clone())]
        );
        let mut broken = code.clone();
        let last = broken.pop().unwrap();
        broken.push(if last == 'A' { 'B' } else { 'A' });
        assert!(found(&format!("代码 {broken} 无效")).is_empty(), "{broken}");
    }
}

#[test]
fn findings_carry_category_entity_and_safe_evidence() {
    let text = "mail bob@example.com or call +1 415-555-0134";
    let f = det().scan_text(text);
    assert_eq!(f.len(), 2);
    for x in &f {
        assert_eq!(x.detector, "pii");
        assert_eq!(x.category, Category::SENSITIVE_INFO);
        assert!(!x.evidence.contains("bob"));
        assert!(!x.evidence.contains("555"));
    }
}

#[test]
fn entity_filter_and_threshold_apply() {
    let only_email =
        PiiDetector::new(PiiConfig::default().with_entities([PiiEntity::Email])).unwrap();
    let text = "a@b.co 4111 1111 1111 1111";
    assert_eq!(only_email.entities(text).len(), 1);
    let strict = PiiDetector::new(PiiConfig::default().with_min_score(0.99)).unwrap();
    assert!(strict.entities(text).is_empty());
}

// === properties ===

fn pii_text() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "4111 1111 1111 1111",
        "john.doe@example.com",
        "身份证 11010519491231002X",
        "+86 138 0013 8000",
        "GB82 WEST 1234 5698 7654 32",
        "SSN 078-05-1121",
        "10.1.2.3",
        "fe80::1ff:fe23:4567:890a",
        "00:1A:2B:3C:4D:5E",
        "born 3/23/1940",
        "passport E12345678",
        "粤B12345",
        "hello world ",
        "你好，",
        " 12 ",
        "(555) 010-0199",
    ]);
    prop::collection::vec((atoms, "\\PC{0,6}"), 0..8).prop_map(|v| {
        v.into_iter()
            .map(|(a, b)| format!("{a}{b}"))
            .collect::<String>()
    })
}

proptest! {
    #[test]
    fn spans_are_char_aligned_ordered_and_disjoint(s in pii_text()) {
        let mut last_end = 0usize;
        for (sp, _) in det().entities(&s) {
            prop_assert!(sp.start < sp.end && sp.end <= s.len());
            prop_assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end));
            prop_assert!(sp.start >= last_end);
            last_end = sp.end;
        }
    }

    #[test]
    fn arbitrary_utf8_never_panics(s in "\\PC{0,300}") {
        for (sp, _) in det().entities(&s) {
            prop_assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end));
        }
    }

    #[test]
    fn arbitrary_bytes_as_lossy_utf8_never_panic(b in prop::collection::vec(any::<u8>(), 0..400)) {
        let s = String::from_utf8_lossy(&b);
        let _ = det().scan_text(&s);
    }

    #[test]
    fn luhn_valid_cards_are_found_with_any_grouping(
        digits in prop::collection::vec(0u8..10, 13),
        sep in prop::sample::select(vec!["", " ", "-"]),
    ) {
        let mut body: Vec<u8> = vec![4, 5];
        body.extend(digits);
        // Append the Luhn check digit.
        let sum: u32 = body.iter().rev().enumerate().map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 { let x = d * 2; if x > 9 { x - 9 } else { x } } else { d }
        }).sum();
        body.push(((10 - sum % 10) % 10) as u8);
        let s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
        let grouped = s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(sep);
        let text = format!("pay with {grouped} today");
        prop_assert_eq!(found(&text), vec![("CREDIT_CARD".to_owned(), grouped)]);
    }
}

/// Each `(text, entity, value)`: `scan_text` finds `entity` in `text` and
/// its span covers `value` as written there.
fn assert_spans_cover(cases: &[(&str, &str, &str)]) {
    for &(text, entity, value) in cases {
        let found = det().scan_text(text);
        let f = found
            .iter()
            .find(|f| f.entity.as_deref() == Some(entity))
            .unwrap_or_else(|| panic!("{entity} not found in {text:?}: {found:?}"));
        let span = f.span.unwrap();
        assert_eq!(&text[span.start..span.end], value, "{text:?}");
    }
}

#[test]
fn full_width_and_invisible_obfuscation_is_found_and_spans_cover_the_original() {
    let cases = [
        (
            "Contact me at ｊａｎｅ．ｒｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ please.",
            "EMAIL",
            "ｊａｎｅ．ｒｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ),
        (
            "Contact me at jane.roe\u{200b}@example.com please.",
            "EMAIL",
            "jane.roe\u{200b}@example.com",
        ),
        (
            "My card is ４１１１\u{3000}１１１１\u{3000}１１１１\u{3000}１１１１.",
            "CREDIT_CARD",
            "４１１１\u{3000}１１１１\u{3000}１１１１\u{3000}１１１１",
        ),
    ];
    assert_spans_cover(&cases);
    // Nothing new on plain text: the normalized pass only runs when
    // something could hide a value.
    assert!(det().scan_text("Ｈｅｌｌｏ　ｗｏｒｌｄ").is_empty());
}

#[test]
fn url_encoded_values_are_found_and_spans_cover_the_encoded_original() {
    let cases = [
        (
            "Done! ![](https://log.example/p.png?e=jane.roe%40example.com)",
            "EMAIL",
            "jane.roe%40example.com",
        ),
        (
            "![](https://log.example/p.png?c=4111%201111%201111%201111&x=1)",
            "CREDIT_CARD",
            "4111%201111%201111%201111",
        ),
        (
            "https://log.example/?c=4111+1111+1111+1111",
            "CREDIT_CARD",
            "4111+1111+1111+1111",
        ),
        (
            "call https://log.example/?p=%2B86%20138%200013%208000",
            "CN_PHONE",
            "%2B86%20138%200013%208000",
        ),
        // A multi-byte character written as escapes, and one as written.
        (
            "https://x.example/?q=%E8%BA%AB%E4%BB%BD%E8%AF%81%2011010519491231002X",
            "CN_RESIDENT_ID",
            "11010519491231002X",
        ),
    ];
    assert_spans_cover(&cases);
    // Escapes that decode to nothing personal add nothing.
    assert!(det()
        .scan_text("https://example.com/search?q=hello%20world%21&lang=en%2DGB")
        .is_empty());
}

proptest! {
    #[test]
    fn url_encoded_spans_lie_on_char_boundaries(
        parts in prop::collection::vec(prop::sample::select(vec![
            "%40", "%20", "%2B", "+", "%E4%B8%AD", "中", "é", "jane", "example.com", "4111", "1111",
            "%ZZ", "%", "%4", "@", " ", "?q=", "138", "0013", "8000",
        ]), 0..40)
    ) {
        let text: String = parts.concat();
        for f in det().scan_text(&text) {
            let sp = f.span.unwrap();
            prop_assert!(sp.start < sp.end && sp.end <= text.len());
            prop_assert!(text.is_char_boundary(sp.start) && text.is_char_boundary(sp.end));
        }
    }
}

proptest! {
    /// The escape-led reading of URL-encoded tokens finds exactly the
    /// tokens, decodings and maps of reading every token in turn.
    #[test]
    fn escape_led_tokens_equal_reading_every_token(
        parts in prop::collection::vec(prop::sample::select(vec![
            "%40", "%20", "%2b", "+", "=", "&", "%E4%B8%AD", "%ff", "中", "é", "a", "12.5%",
            "%", "%4", "%%41", " ", "  ", "\n", "\t", "?q=", "x", "4111",
        ]), 0..60)
    ) {
        let text: String = parts.concat();
        prop_assert_eq!(percent_decoded_tokens(&text), percent_decoded_tokens_reference(&text));
    }
}

#[test]
fn escape_led_tokens_stop_at_the_cap_like_the_reference() {
    let text = "a%20b ".repeat(MAX_DECODED_TOKENS + 10) + "x=1+2";
    let got = percent_decoded_tokens(&text);
    assert_eq!(got.len(), MAX_DECODED_TOKENS);
    assert_eq!(got, percent_decoded_tokens_reference(&text));
    // One token made of escapes is read once.
    let long = "%41".repeat(50_000);
    let got = percent_decoded_tokens(&long);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.len(), 50_000);
}

#[test]
fn hiding_characters_are_found_anywhere_in_chinese_text() {
    let hiding = [
        '０',
        'Ａ',
        'ｚ',
        '＠',
        '＋',
        '－',
        '．',
        '\u{AD}',
        '\u{200B}',
        '\u{202E}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{E0041}',
    ];
    for c in hiding {
        for at in [0, 5, 40] {
            let mut text: String = "请帮我把这段话翻译成英文，".repeat(4);
            let byte = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
            text.insert(byte, c);
            assert!(
                hides_characters(&text),
                "U+{:04X} at char {at}",
                u32::from(c)
            );
        }
    }
    // Chinese punctuation and other non-ASCII hide nothing.
    assert!(!hides_characters("请帮我，翻译：“英文”。é ü — ½"));
    assert!(!hides_characters("plain ascii 12.5%"));
}
