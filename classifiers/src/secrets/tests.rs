#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
use super::*;
use proptest::strategy::Strategy as _;

fn kinds(text: &str) -> Vec<(String, String)> {
    let d = SecretsDetector::new().unwrap();
    d.scan_text(text)
        .into_iter()
        .map(|f| {
            let s = f.span.unwrap();
            (f.entity.unwrap(), text[s.start..s.end].to_owned())
        })
        .collect()
}

fn one(text: &str) -> (String, String) {
    let k = kinds(text);
    assert_eq!(k.len(), 1, "{text:?} -> {k:?}");
    k.into_iter().next().unwrap()
}

#[test]
fn provider_keys_are_named() {
    // All synthetic: right shape, not real credentials.
    let cases = [
        (
            "key AKIAIOSFODNN7EXAMPLE here",
            "AWS_ACCESS_KEY",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        (
            "token ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5 ok",
            "GITHUB_TOKEN",
            "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5",
        ),
        (
            "OPENAI=sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3Gh5Jk7Lm9",
            "OPENAI_API_KEY",
            "sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3Gh5Jk7Lm9",
        ),
        (
            "use sk-ant-api03-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3Gh5Jk7Lm9Np1Rs3Tu5Wx7Za9-AA now",
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3Gh5Jk7Lm9Np1Rs3Tu5Wx7Za9-AA",
        ),
        (
            "slack xoxb-1234567890-1234567890123-Ab3De5Gh7Jk9Mn1Pq3St5Vw7",
            "SLACK_TOKEN",
            "xoxb-1234567890-1234567890123-Ab3De5Gh7Jk9Mn1Pq3St5Vw7",
        ),
        (
            "maps AIzaSyAb3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3 key",
            "GOOGLE_API_KEY",
            "AIzaSyAb3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3",
        ),
        (
            "stripe sk_live_Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz",
            "STRIPE_KEY",
            "sk_live_Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz",
        ),
    ];
    for (text, kind, value) in cases {
        assert_eq!(one(text), (kind.to_owned(), value.to_owned()), "{text}");
    }
}

#[test]
fn pem_private_key_block_is_one_span() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu\nAbCdEf==\n-----END RSA PRIVATE KEY-----";
    let text = format!("here: {pem} done");
    assert_eq!(one(&text), ("PRIVATE_KEY".to_owned(), pem.to_owned()));
    // A truncated key (mid-stream) still covers its body.
    let (k, v) = one("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg");
    assert_eq!(k, "PRIVATE_KEY");
    assert!(v.ends_with("MIIEvQIBADANBg"));
    assert!(kinds("-----BEGIN PUBLIC KEY-----\nMIIB").is_empty());
}

#[test]
fn jwt_header_is_decoded() {
    // {"alg":"HS256","typ":"JWT"} . {"sub":"1234567890"} . signature
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let d = SecretsDetector::new().unwrap();
    let f = d.scan_text(&format!("Authorization: {jwt}"));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].entity.as_deref(), Some("JWT"));
    assert!(f[0].score >= 0.9);
}

#[test]
fn keyword_assignments_need_secret_looking_values() {
    assert_eq!(
        one("db password: Tr0ub4dor&3 thanks"),
        ("GENERIC_SECRET".to_owned(), "Tr0ub4dor&3".to_owned())
    );
    assert_eq!(
        one("我的密码是abc12345xyz"),
        ("GENERIC_SECRET".to_owned(), "abc12345xyz".to_owned())
    );
    assert_eq!(
        one("api_key = \"q8Zr2LmX0vB7nT4kW9pD\";"),
        (
            "GENERIC_SECRET".to_owned(),
            "q8Zr2LmX0vB7nT4kW9pD".to_owned()
        )
    );
    // Words, placeholders and templates are not secrets.
    for benign in [
        "the password is required",
        "password: <your-password>",
        "token = ${GITHUB_TOKEN}",
        "password: [GENERIC_SECRET_1]",
        "password: ********",
        "Reset your password is easy.",
        "the token is abcdefghijklmnop",
    ] {
        assert!(kinds(benign).is_empty(), "{benign:?}: {:?}", kinds(benign));
    }
}

#[test]
fn provider_key_after_keyword_keeps_provider_name() {
    assert_eq!(
        one("api_key=AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_ACCESS_KEY".to_owned(),
            "AKIAIOSFODNN7EXAMPLE".to_owned()
        )
    );
}

#[test]
fn keys_glued_to_more_key_characters_are_not_cut() {
    assert!(kinds("AKIAIOSFODNN7EXAMPLEX").is_empty());
    assert!(kinds("xsk-abc").is_empty());
}

#[test]
fn evidence_never_contains_the_secret() {
    let d = SecretsDetector::new().unwrap();
    let text = "password: Tr0ub4dor&3 and AKIAIOSFODNN7EXAMPLE";
    for f in d.scan_text(text) {
        assert!(!f.evidence.contains("Tr0ub4dor"));
        assert!(!f.evidence.contains("IOSFODNN7"));
        assert_eq!(f.category, Category::SENSITIVE_INFO);
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_spans_are_char_aligned(s in "\\PC{0,200}") {
        let d = SecretsDetector::new().unwrap();
        for f in d.scan_text(&s) {
            let sp = f.span.unwrap();
            proptest::prop_assert!(sp.start < sp.end && sp.end <= s.len());
            proptest::prop_assert!(s.is_char_boundary(sp.start) && s.is_char_boundary(sp.end));
        }
    }
}

#[test]
fn hyphenated_words_after_sk_are_not_openai_keys() {
    assert!(kinds("see sk-learn-compatible-estimators-and-pipelines docs").is_empty());
}

#[test]
fn only_long_s_and_kelvin_fold_onto_ascii_letters() {
    // The gate compares its literals ASCII-case-insensitively and treats
    // FOLD_HAZARDS as hits; that is sound only if no other char matches an
    // ASCII letter under the patterns' `(?i)`.
    let re = regex::Regex::new(r"(?i)^[a-z]$").unwrap();
    let folding: Vec<char> = (0x80..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| re.is_match(c.encode_utf8(&mut [0; 4])))
        .collect();
    assert_eq!(folding, vec!['\u{17F}', '\u{212A}']);
}

/// Texts for the gate tests: every shape the patterns know, obfuscated and
/// cut at every length, plus prose that has none of them.
fn gate_corpus() -> Vec<String> {
    let seeds = [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "sk-ant-api03-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3",
        "OPENAI=sk-proj-Ab3De5Gh7Jk9Mn1Pq3St5Vw7Yz9Bc1Df3Gh5Jk7Lm9",
        "key AKIAIOSFODNN7EXAMPLE here ASIAIOSFODNN7EXAMPLE",
        "token ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5 ok",
        "xoxb-1234567890-abcdefghijklmnop",
        "https://hooks.slack.com/services/T0123456/B0123456/abcdefghijklmnopqrstuvwx",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7",
        "sk_live_abcdefghijklmnopqrstuvwx1234 rk_test_abcdefghijklmnopqrstuvwx",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "Authorization: Bearer abcDEF123456ghiJKL789",
        "password = Hunter2!xyz, PASSWD: Tr0ub4dor&3, pwd=aB3$dE5!",
        "client_secret: Zx9Qw8Er7Ty6Ui5Op4As3Df2 and API-KEY is Zx9Qw8Er7Ty6Ui5Op4As3Df2",
        "credentials=Zx9Qw8Er7Ty6Ui5Op4As3Df2 access_key: Zx9Qw8Er7Ty6Ui5Op4As3Df2",
        "密码是 Hunter2!xyz，口令：Tr0ub4dor&3，令牌为 Zx9Qw8Er7Ty6Ui5Op4As3Df2",
        "paſſword = Hunter2!xyz and apiKey: Zx9Qw8Er7Ty6Ui5Op4As3Df2 toKen=Zx9Qw8Er7Ty6Ui5Op4",
        "The quarterly report shows revenue grew by 12.5% to $4.2 million.",
        "请帮我把这段话翻译成英文：我们计划在下个月推出新版本。",
    ];
    let mut out = Vec::new();
    for s in seeds {
        out.push(s.to_owned());
        out.push(s.to_ascii_uppercase());
        out.push(s.to_ascii_lowercase());
        out.push(s.replace('s', "\u{17F}").replace('k', "\u{212A}"));
        for (i, _) in s.char_indices() {
            out.push(s[i..].to_owned());
            out.push(s[..i].to_owned());
        }
    }
    out
}

#[test]
fn the_gate_never_changes_findings() {
    let d = SecretsDetector::new().unwrap();
    let all = gate_corpus();
    let joined = all.join(" ");
    let mut found = 0usize;
    for text in all.iter().chain(std::iter::once(&joined)) {
        let gated = d.scan_text(text);
        found += gated.len();
        assert_eq!(gated, d.scan_candidates(text), "{text:?}");
    }
    assert!(found > 100, "the corpus has findings: {found}");
}

#[test]
fn the_gate_sees_a_secret_anywhere_in_a_long_text() {
    // Past 256 bytes the gate is walked in four lanes; a secret at each
    // lane's start, end and boundary must still open it.
    let d = SecretsDetector::new().unwrap();
    let filler = "Please summarise the meeting notes for the team. ";
    let mut found = 0usize;
    for secret in gate_corpus().iter().take(40) {
        for len in [300usize, 1000, 4099] {
            for at in [0, len / 4 - 3, len / 2, len - 1] {
                let mut text = filler.repeat(len / filler.len() + 1);
                text.truncate(len);
                text.insert_str(at, secret);
                let gated = d.scan_text(&text);
                found += gated.len();
                assert_eq!(
                    gated,
                    d.scan_candidates(&text),
                    "{secret:?} at {at} of {len}"
                );
            }
        }
    }
    assert!(found > 20, "the texts have findings: {found}");
}

proptest::proptest! {
    #[test]
    fn the_gate_never_changes_findings_on_mixed_text(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                "\\PC{0,40}",
                proptest::sample::select(GATE_LITERALS.to_vec()).prop_map(str::to_owned),
                "(sk-|ghp_|eyJ|password|Bearer |api_key=|密码是)[A-Za-z0-9_.=: -]{0,60}",
            ],
            0..6,
        )
    ) {
        let text = parts.concat();
        let d = SecretsDetector::new().unwrap();
        proptest::prop_assert_eq!(d.scan_text(&text), d.scan_candidates(&text));
    }
}
