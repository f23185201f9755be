#![no_main]
// Every request body type of the API: arbitrary JSON never panics, and
// anything accepted holds only valid, screened values (the field types
// check themselves while deserializing).
use palisade_proto::auth::{CreateApiKeyRequest, CreateUserRequest, LoginRequest};
use palisade_proto::resources::{
    CreateBindingRequest, CreateCloudAccountRequest, CreateClusterRequest, CreateProjectRequest,
    CreateRoleRequest, CreateTeamRequest, CreateTenantRequest, DescriptionRequest,
    UpdateRoleRequest, UpdateUserRequest,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<LoginRequest>(data);
    let _ = serde_json::from_slice::<CreateApiKeyRequest>(data);
    let _ = serde_json::from_slice::<CreateBindingRequest>(data);
    let _ = serde_json::from_slice::<CreateCloudAccountRequest>(data);
    let _ = serde_json::from_slice::<CreateClusterRequest>(data);
    let _ = serde_json::from_slice::<CreateProjectRequest>(data);
    let _ = serde_json::from_slice::<CreateRoleRequest>(data);
    let _ = serde_json::from_slice::<CreateTeamRequest>(data);
    let _ = serde_json::from_slice::<CreateTenantRequest>(data);
    let _ = serde_json::from_slice::<DescriptionRequest>(data);
    let _ = serde_json::from_slice::<UpdateRoleRequest>(data);
    let _ = serde_json::from_slice::<UpdateUserRequest>(data);
    if let Ok(u) = serde_json::from_slice::<CreateUserRequest>(data) {
        assert!(palisade_core::screen::check(u.display_name.as_str()).is_ok());
        assert!(palisade_core::model::validate_email(u.email.as_str()).is_ok());
    }
});
