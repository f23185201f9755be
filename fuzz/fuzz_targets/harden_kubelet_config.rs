#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The bounded YAML loader used for the kubelet config never panics.
    let _ = palisade_harden::parse::kube::load_yaml(s);
});
