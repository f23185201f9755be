#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The sshd_config parser (Include-free text) never panics.
    let _ = palisade_harden::parse::sshd::parse_str(s);
});
