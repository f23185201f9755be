#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The sysctl.d line parser never panics.
    let _ = palisade_harden::parse::sysctl::parse_text(s);
});
