//! Property: whatever the records hold (arbitrary UTF-8, any numbers in
//! range), the chain written, signed and exported verifies, and flipping
//! any one byte of any record is caught.

use menshen_audit::{AuditLog, AuditRecord, FindingSummary, Payloads};
use proptest::prelude::*;

use crate::common::*;

fn arb_record() -> impl Strategy<Value = AuditRecord> {
    (
        any::<String>(),
        any::<String>(),
        any::<u8>(),
        any::<u16>(),
        prop::collection::btree_map(any::<String>(), any::<u32>(), 0..3),
        prop::option::of(any::<String>()),
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(|(tenant, route, risk, score, entities, prompt, reasons)| {
            let mut r = record(0, "x");
            r.tenant = tenant;
            r.route = route;
            r.risk_score = risk;
            r.decision.reasons = reasons;
            r.findings = vec![FindingSummary {
                detector: "pii".into(),
                category: "MLC:S1".into(),
                score_milli: score,
                count: 1,
                entities,
            }];
            r.payloads = Payloads {
                prompt,
                response: None,
            };
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn audit_chain_verifies_after_signing_and_catches_any_flip(
        records in prop::collection::vec(arb_record(), 1..12),
        flip in any::<prop::sample::Index>(),
    ) {
        let t = tmp();
        let dir = t.path().join("log");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let log = AuditLog::open(config(&dir)).unwrap();
            for r in &records {
                log.sink().append(r.clone()).await.unwrap();
            }
            log.shutdown().await.unwrap();
        });
        let out = t.path().join("bundle");
        export_all(&dir, &out);
        let key = log_key(&dir);
        let rep = verify(&out, &key);
        prop_assert!(rep.is_valid(), "{}", rep.render());

        let path = out.join("records.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        let i = flip.index(bytes.len());
        // Keep line structure: flip a bit that does not create or remove a
        // newline, so the edit is a change to one record.
        if bytes[i] != b'\n' && bytes[i] ^ 0x01 != b'\n' {
            bytes[i] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            prop_assert!(!verify(&out, &key).is_valid());
        }
    }
}
