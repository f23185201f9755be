#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The modprobe.d parser never panics.
    let mut cfg = palisade_harden::parse::modprobe::ModprobeConfig::default();
    palisade_harden::parse::modprobe::parse_into(&mut cfg, s);
});
