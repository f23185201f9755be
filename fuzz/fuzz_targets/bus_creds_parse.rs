#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // A credentials file either parses or is refused; what parses writes
    // back to a file that parses to the same user and JWT.
    if let Ok(c) = palisade_bus::Credentials::parse(s) {
        let again = palisade_bus::Credentials::parse(&c.to_file_text());
        assert!(again.is_ok_and(|a| a.jwt() == c.jwt() && a.public_key() == c.public_key()));
    }
});
