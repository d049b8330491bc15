//! A model server's metrics page, for every engine: metrics in range or an
//! error, never a panic.
#![no_main]

use kvlb_agent::scrape::{Engine, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for engine in [Engine::Vllm, Engine::Sglang, Engine::Trtllm] {
            if let Ok(m) = parse(engine, text) {
                assert!(m.waiting >= 0.0 && m.running >= 0.0 && (0.0..=1.0).contains(&m.kv_usage), "{m:?}");
            }
        }
    }
});
