//! One line of an upstream SSE stream, as the proxy scans it for usage: a
//! usage or nothing, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kvlb_proxy::tap::usage_in_sse_line(data);
});
