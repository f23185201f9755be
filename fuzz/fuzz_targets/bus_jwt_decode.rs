#![no_main]
use palisade_bus::jwt::{self, Account, Operator, User};

libfuzzer_sys::fuzz_target!(|s: &str| {
    // The NATS JWT decoder never panics, and only verified claims with
    // issuer and subject of the right key kinds come out.
    if let Ok(c) = jwt::decode::<User>(s) {
        assert!(c.iss.starts_with('A') && c.sub.starts_with('U'));
    }
    if let Ok(c) = jwt::decode::<Account>(s) {
        assert!(c.iss.starts_with('O') && c.sub.starts_with('A'));
    }
    if let Ok(c) = jwt::decode::<Operator>(s) {
        assert!(c.iss.starts_with('O') && c.sub.starts_with('O'));
    }
    let _ = jwt::peek_claim_type(s);
});
