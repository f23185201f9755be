#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    if let Ok(u) = palisade_core::Uid::parse(s) {
        assert_eq!(u.to_string(), s);
    }
});
