//! Non-streaming response bodies of every API surface: `decode_response`
//! never panics and its location map names values of the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use menshen_proxy::api::{decode_response, Api, DecodeLimits, Slot};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    for api in Api::ALL {
        let Ok(mut decoded) = decode_response(api, data, &limits) else {
            continue;
        };
        for (_, slot) in decoded.locations.iter() {
            let (Slot::Str(p) | Slot::Json(p)) = slot;
            assert!(
                decoded.value().pointer(p).is_some(),
                "{api}: {p} names nothing"
            );
        }
        // Redacting every text either writes back or is refused; never panics.
        let mut edited = decoded.conversation.clone();
        let locations: Vec<_> = decoded.locations.iter().map(|(l, _)| *l).collect();
        for location in locations {
            if let Some(t) = edited.text_at_mut(location) {
                *t = "{\"redacted\":true}".to_owned();
            }
        }
        if decoded.apply(&edited).is_ok() {
            let _ = decoded.to_bytes();
        }
    }
});
