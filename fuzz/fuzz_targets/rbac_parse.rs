#![no_main]
use palisade_core::rbac::{BuiltinRole, Permission, PermissionSet, RoleName};

libfuzzer_sys::fuzz_target!(|s: &str| {
    // Each parser accepts only the exact spelling it gives back.
    if let Ok(p) = Permission::parse(s) {
        assert_eq!(p.as_str(), s);
    }
    if let Ok(r) = BuiltinRole::parse(s) {
        assert_eq!(r.name(), s);
    }
    if let Ok(n) = RoleName::parse(s) {
        assert_eq!(n.as_str(), s);
    }
    // A list of names: every accepted set re-parses from its own names.
    if let Ok(set) = PermissionSet::parse_names(s.split(',')) {
        let names: Vec<&str> = set.iter().map(Permission::as_str).collect();
        assert_eq!(PermissionSet::parse_names(names), Ok(set));
        assert_eq!(set.len(), s.split(',').count());
    }
});
