#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A spool file either parses or is refused; what parses writes back to
    // bytes that parse to the same entry.
    if let Ok(e) = palisade_agent::spool::parse(data) {
        let again = e.to_bytes().map(|b| palisade_agent::spool::parse(&b));
        assert!(matches!(again, Ok(Ok(ref a)) if *a == e));
    }
});
