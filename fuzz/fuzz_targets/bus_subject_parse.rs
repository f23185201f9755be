#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // Only Palisade bus subjects parse, and they print back unchanged.
    if let Ok(subject) = palisade_bus::subjects::BusSubject::parse(s) {
        assert_eq!(subject.to_subject(), s);
    }
});
