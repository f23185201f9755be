#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The key/value reader (pwquality, faillock, login.defs, journald) and its editor never panic; an edit always reads back.
    use palisade_harden::parse::conf::{Syntax, last, parse, set_key};
    for (syntax, section) in [
        (Syntax::Equals, None),
        (Syntax::Space, None),
        (Syntax::Equals, Some("Journal")),
    ] {
        let _ = parse(s, syntax, section);
        let edited = set_key(s, syntax, section, "minlen", "14");
        assert_eq!(
            last(&edited, syntax, section, "minlen").as_deref(),
            Some("14")
        );
    }
    let _ = palisade_harden::parse::conf::grub_password(s);
    let _ = palisade_harden::parse::conf::banner_problems(s, Some("debian"));
});
