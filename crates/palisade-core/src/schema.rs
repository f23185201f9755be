//! JSON Schemas (draft 2020-12, the dialect of OpenAPI 3.1) of the domain
//! types that appear on the wire: [`Uid`], [`Permission`],
//! [`PermissionSet`], [`BuiltinRole`], [`RoleName`] and [`Level`]. Each
//! schema states exactly what the type's `Deserialize` accepts (the same
//! pattern, the same closed list), so a document generated from them
//! cannot promise more or less than the parsers enforce; the tests below
//! hold the two together.
//!
//! This module only describes; it must not validate or parse anything
//! itself.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::rbac::{BuiltinRole, Level, Permission, PermissionSet, RoleName};
use crate::uid::Uid;

/// The pattern of a [`Uid`]: 12 lowercase hex characters.
pub const UID_PATTERN: &str = "^[0-9a-f]{12}$";

/// The pattern of a name (`crate::model::validate_name`): a DNS label of
/// 1–63 lowercase letters, digits and `-`, starting with a letter and not
/// ending with `-`.
pub const NAME_PATTERN: &str = "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$";

impl JsonSchema for Uid {
    fn schema_name() -> Cow<'static, str> {
        "Uid".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::Uid".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": UID_PATTERN,
            "description": "A 48-bit random identifier: 12 lowercase hex characters.",
            "examples": ["0123456789ab"],
        })
    }
}

impl JsonSchema for Permission {
    fn schema_name() -> Cow<'static, str> {
        "Permission".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::rbac::Permission".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        json_schema!({
            "type": "string",
            "enum": names,
            "description": "A permission of the closed catalogue, `resource.verb`.",
        })
    }
}

impl JsonSchema for PermissionSet {
    fn schema_name() -> Cow<'static, str> {
        "PermissionSet".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::rbac::PermissionSet".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<Permission>();
        json_schema!({
            "type": "array",
            "items": item,
            "uniqueItems": true,
            "maxItems": Permission::ALL.len(),
            "description": "Permissions, each named once.",
        })
    }
}

impl JsonSchema for BuiltinRole {
    fn schema_name() -> Cow<'static, str> {
        "BuiltinRole".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::rbac::BuiltinRole".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = BuiltinRole::ALL.iter().map(|r| r.name()).collect();
        json_schema!({
            "type": "string",
            "enum": names,
            "description": "One of the six built-in roles.",
        })
    }
}

impl JsonSchema for RoleName {
    fn schema_name() -> Cow<'static, str> {
        "RoleName".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::rbac::RoleName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": NAME_PATTERN,
            "description": "A built-in role's name or a custom role's name (a DNS label).",
        })
    }
}

/// Schema of a custom role's permissions (for `#[schemars(with = ...)]`):
/// a non-empty [`PermissionSet`] without platform-level permissions, as
/// [`crate::rbac::validate_custom_role_permissions`] requires.
#[derive(Debug)]
pub enum CustomRolePermissions {}

impl JsonSchema for CustomRolePermissions {
    fn schema_name() -> Cow<'static, str> {
        "CustomRolePermissions".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::schema::CustomRolePermissions".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = Permission::ALL
            .iter()
            .filter(|p| p.level() != Level::Platform)
            .map(|p| p.as_str())
            .collect();
        json_schema!({
            "type": "array",
            "items": {"type": "string", "enum": names},
            "uniqueItems": true,
            "minItems": 1,
            "maxItems": names.len(),
            "description": "At least one permission, each named once; platform-level permissions cannot be in a custom role.",
        })
    }
}

/// Schema of a custom role's name (for `#[schemars(with = ...)]`): a name
/// that is not a built-in role's, as
/// [`crate::rbac::validate_custom_role_name`] requires.
#[derive(Debug)]
pub enum CustomRoleName {}

impl JsonSchema for CustomRoleName {
    fn schema_name() -> Cow<'static, str> {
        "CustomRoleName".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::schema::CustomRoleName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let builtin: Vec<&str> = BuiltinRole::ALL.iter().map(|r| r.name()).collect();
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": NAME_PATTERN,
            "not": {"enum": builtin},
            "description": "A DNS label that is not a built-in role's name.",
        })
    }
}

impl JsonSchema for Level {
    fn schema_name() -> Cow<'static, str> {
        "Level".into()
    }

    fn schema_id() -> Cow<'static, str> {
        "palisade_core::rbac::Level".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": [Level::Platform.as_str(), Level::Tenant.as_str(), Level::Project.as_str()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn enums_list_the_whole_catalogue() {
        let s = schemars::schema_for!(Permission);
        let listed = s.get("enum").and_then(|e| e.as_array()).unwrap();
        assert_eq!(listed.len(), Permission::ALL.len());
        for v in listed {
            Permission::parse(v.as_str().unwrap()).unwrap();
        }
        let s = schemars::schema_for!(BuiltinRole);
        let listed = s.get("enum").and_then(|e| e.as_array()).unwrap();
        assert_eq!(listed.len(), 6);
        for v in listed {
            BuiltinRole::parse(v.as_str().unwrap()).unwrap();
        }
    }

    #[test]
    fn custom_role_permissions_are_what_validation_accepts() {
        let s = schemars::schema_for!(CustomRolePermissions);
        let listed = s
            .get("items")
            .and_then(|i| i.get("enum"))
            .and_then(|e| e.as_array())
            .unwrap();
        let set = PermissionSet::parse_names(listed.iter().map(|v| v.as_str().unwrap())).unwrap();
        crate::rbac::validate_custom_role_permissions(set).unwrap();
        assert_eq!(set, PermissionSet::ALL.difference(PermissionSet::PLATFORM));
        assert!(crate::rbac::validate_custom_role_permissions(PermissionSet::EMPTY).is_err());
        assert_eq!(s.get("minItems"), Some(&serde_json::json!(1)));
    }

    proptest! {
        // The documented name pattern accepts exactly what validate_name
        // accepts.
        #[test]
        fn name_pattern_is_validate_name(s in "[a-z0-9-]{0,70}|\\PC{0,8}") {
            let re = regex::Regex::new(NAME_PATTERN).unwrap();
            prop_assert_eq!(
                re.is_match(&s),
                crate::model::validate_name("name", &s).is_ok()
            );
        }

        #[test]
        fn uid_pattern_is_uid_parse(s in "[0-9a-fA-F]{10,14}|\\PC{0,14}") {
            let re = regex::Regex::new(UID_PATTERN).unwrap();
            prop_assert_eq!(re.is_match(&s), Uid::parse(&s).is_ok());
        }
    }
}
