//! Request bodies of every API surface: `decode_request` never panics, the
//! location map is consistent with the body, and writing edited texts back
//! produces a body that decodes to exactly those texts.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use menshen_classifiers::Location;
use menshen_proxy::api::{decode_request, Api, DecodeLimits, Decoded, Slot};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    for api in Api::ALL {
        if let Ok(decoded) = decode_request(api, data, &limits) {
            check(api, decoded, &limits);
        }
    }
});

fn check(api: Api, mut decoded: Decoded, limits: &DecodeLimits) {
    let texts: HashMap<Location, String> = decoded
        .conversation
        .segments()
        .map(|s| (s.location, s.text.to_owned()))
        .collect();
    // Every slot names a value of the body; every non-empty text has a slot.
    for (location, slot) in decoded.locations.iter() {
        assert!(texts.contains_key(location), "{api}: slot without text");
        match slot {
            Slot::Str(p) => assert!(
                decoded.value().pointer(p).is_some_and(|v| v.is_string()),
                "{api}: string slot {p} does not name a string"
            ),
            Slot::Json(p) => assert!(
                decoded.value().pointer(p).is_some(),
                "{api}: json slot {p} names nothing"
            ),
        }
    }
    for (location, text) in &texts {
        if !text.is_empty() {
            assert!(
                decoded.locations.get(location).is_some(),
                "{api}: text at {location:?} has no slot"
            );
        }
    }
    // An unchanged conversation writes nothing.
    let same = decoded.conversation.clone();
    assert_eq!(decoded.reencode(&same).ok(), Some(None), "{api}");

    // Redact every string-slot text; the new body decodes to the redactions.
    let mut edited = decoded.conversation.clone();
    let mut expect = HashMap::new();
    for (n, (location, slot)) in decoded.locations.iter().enumerate() {
        if let Slot::Str(_) = slot {
            let marker = format!("[REDACTED_{n}]");
            if let Some(t) = edited.text_at_mut(*location) {
                t.clone_from(&marker);
                expect.insert(*location, marker);
            }
        }
    }
    let bytes = match decoded.reencode(&edited) {
        Ok(Some(b)) => b,
        Ok(None) => {
            assert!(
                expect.iter().all(|(l, m)| texts.get(l) == Some(m)),
                "{api}: edits lost"
            );
            return;
        }
        Err(e) => panic!("{api}: re-encoding string edits failed: {e}"),
    };
    let again = decode_request(api, &bytes, limits)
        .unwrap_or_else(|e| panic!("{api}: re-encoded body does not decode: {e}"));
    let got: HashMap<Location, &str> = again
        .conversation
        .segments()
        .map(|s| (s.location, s.text))
        .collect();
    for (location, marker) in &expect {
        assert_eq!(
            got.get(location).copied(),
            Some(marker.as_str()),
            "{api}: edit at {location:?} did not round-trip"
        );
    }
    // `apply` agrees with `reencode`.
    assert!(decoded.apply(&edited).is_ok(), "{api}");
    assert_eq!(decoded.to_bytes(), bytes, "{api}");
}
