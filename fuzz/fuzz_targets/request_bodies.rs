#![no_main]
//! Every request body type of the API, deserialized from arbitrary bytes as
//! the gateway does: no panic, and a refusal never quotes the input.
use palisade_core::PasswordPolicy;
use palisade_proto::auth::{
    CodeRequest, CreateApiKeyRequest, CreateUserRequest, LoginRequest, MfaRequest, MfaSetting,
    PasswordChangeRequest, RefreshRequest,
};
use palisade_proto::resources::{
    CreateBindingRequest, CreateCloudAccountRequest, CreateClusterRequest, CreateProjectRequest,
    CreateRoleRequest, CreateTeamRequest, CreateTenantRequest, DescriptionRequest,
    TeamMemberRequest, UpdateRoleRequest, UpdateUserRequest,
};

fn body<T: serde::de::DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    body::<LoginRequest>(data);
    body::<MfaRequest>(data);
    body::<RefreshRequest>(data);
    body::<PasswordChangeRequest>(data);
    body::<CreateUserRequest>(data);
    body::<CreateApiKeyRequest>(data);
    body::<CodeRequest>(data);
    body::<MfaSetting>(data);
    body::<PasswordPolicy>(data);
    body::<UpdateUserRequest>(data);
    body::<CreateTeamRequest>(data);
    body::<DescriptionRequest>(data);
    body::<TeamMemberRequest>(data);
    body::<CreateRoleRequest>(data);
    body::<UpdateRoleRequest>(data);
    body::<CreateBindingRequest>(data);
    body::<CreateProjectRequest>(data);
    body::<CreateCloudAccountRequest>(data);
    body::<CreateClusterRequest>(data);
    body::<CreateTenantRequest>(data);
});
