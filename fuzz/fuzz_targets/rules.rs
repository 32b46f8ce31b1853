//! The rule scanner, the PII and secrets recognizers and the output rules
//! (with an image host list, so every image source is read) over arbitrary
//! text: no panic, and every finding's span lies inside the text on its char
//! boundaries (redaction slices the text there).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use menshen_classifiers::images::ImageHosts;
use menshen_classifiers::output_rules::OutputRulesDetector;
use menshen_classifiers::rules::RuleDetector;
use menshen_classifiers::{Finding, PiiConfig, PiiDetector, SecretsDetector, Trust};

struct Detectors {
    rules: RuleDetector,
    pii: PiiDetector,
    secrets: SecretsDetector,
    output: OutputRulesDetector,
}

fn detectors() -> &'static Detectors {
    static D: OnceLock<Detectors> = OnceLock::new();
    D.get_or_init(|| Detectors {
        rules: RuleDetector::builtin().expect("bundled rule packs load"),
        pii: PiiDetector::new(PiiConfig::default()).expect("default PII config builds"),
        secrets: SecretsDetector::new().expect("secrets detector builds"),
        output: OutputRulesDetector::builtin()
            .expect("bundled output rules load")
            .with_image_hosts(
                ImageHosts::new(["cdn.example.com", "*.example.org"]).expect("valid hosts"),
            ),
    })
}

fn check(text: &str, findings: &[Finding], what: &str) {
    for f in findings {
        let Some(span) = f.span else { continue };
        assert!(
            span.start <= span.end && span.end <= text.len(),
            "{what}: span {span:?} outside a text of {} bytes ({:?})",
            text.len(),
            f.rule
        );
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "{what}: span {span:?} off a char boundary ({:?})",
            f.rule
        );
        assert!(f.score.is_finite(), "{what}: score {}", f.score);
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let d = detectors();
    let trust = if sel & 1 == 0 {
        Trust::Trusted
    } else {
        Trust::Untrusted
    };
    check(&text, &d.rules.scan_text(&text, trust), "rules");
    check(&text, &d.pii.scan_text(&text), "pii");
    check(&text, &d.secrets.scan_text(&text), "secrets");
    check(&text, &d.output.scan_answer(&text, None), "output");
});
