#![no_main]
use palisade_proto::auth::CreateUserRequest;
use palisade_proto::resources::{CreateBindingRequest, CreateRoleRequest, CreateTeamRequest};
use palisade_server::json::parse_body;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    // Any body is parsed or refused with a 400 and a message, never a
    // panic. (That a refusal never shows a value is a property test in
    // palisade-server's json module: random text cannot collide with its
    // fixed wording, which fuzzed input soon would.)
    let refusals = [
        parse_body::<CreateTeamRequest>(bytes).err(),
        parse_body::<CreateBindingRequest>(bytes).err(),
        parse_body::<CreateRoleRequest>(bytes).err(),
        parse_body::<CreateUserRequest>(bytes).err(),
    ];
    for e in refusals.into_iter().flatten() {
        assert_eq!(e.status().as_u16(), 400);
        assert!(!e.message().is_empty());
    }
});
