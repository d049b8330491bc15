//! The standalone pool file: any text parses to a valid table or a located
//! error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(table) = kvlb_agent::config::parse(text, "fuzz.yaml") {
            assert!(table.validate().is_ok(), "parse returned a table that does not validate");
        }
    }
});
