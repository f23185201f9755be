#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The kubelet unit/drop-in/env flag reader never panics.
    let _ = palisade_harden::parse::kube::flags_from_text(s);
});
