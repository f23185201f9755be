#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    if let Ok(k) = palisade_crypto::Keyring::from_text(s) {
        // Whatever parses must round-trip exactly.
        let again = palisade_crypto::Keyring::from_text(&k.to_text());
        assert!(again.is_ok_and(|a| a == k));
    }
});
