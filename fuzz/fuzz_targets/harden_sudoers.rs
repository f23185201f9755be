#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The sudoers Defaults reader never panics.
    let _ = palisade_harden::parse::text::sudoers_defaults(s);
});
