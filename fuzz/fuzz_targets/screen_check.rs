#![no_main]
use palisade_core::screen::{self, Finding};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The detectors take any bytes; a caught panic would show as DetectorFault.
    assert!(screen::detect_sqli(data).is_ok());
    assert!(screen::detect_xss(data).is_ok());
    if let Ok(s) = std::str::from_utf8(data) {
        match screen::check(s) {
            Ok(()) => {}
            Err(Finding::DetectorFault) => panic!("detector fault"),
            Err(f) => assert!(f.to_string().is_ascii()),
        }
    }
});
