#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The static-pod manifest (YAML) parser never panics.
    let _ = palisade_harden::parse::kube::parse_manifest(s);
});
