//! A client's request body, for every API: routing fields or an OpenAI-style
//! 400, never a panic.
#![no_main]

use kvlb_proxy::request::{Api, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for api in [Api::Chat, Api::Completions, Api::Embeddings] {
        if let Err(e) = parse(api, data) {
            assert_eq!(e.status, 400);
        }
    }
});
