#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The PAM configuration parser never panics.
    let _ = palisade_harden::parse::pam::parse(s);
});
