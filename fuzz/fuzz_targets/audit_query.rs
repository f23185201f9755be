#![no_main]
// `GET /v1/audit` query strings: parsing and validation never panic.
libfuzzer_sys::fuzz_target!(|q: &str| {
    if let Ok(query) =
        serde_urlencoded::from_str::<palisade_server::routes::audit::AuditQuery>(q)
    {
        let _ = palisade_server::routes::audit::parse(&query);
    }
    let _ = palisade_server::audit::StreamTarget::parse(q);
});
