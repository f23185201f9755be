//! Tests of the RBAC model: catalogue, roles, every decision rule, the
//! escalation guards, explain, and properties over arbitrary grants.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::{CoreError, Uid};

/// Two projects of the tenant.
fn p() -> Uid {
    Uid::from_u64(0x0a01)
}

fn q() -> Uid {
    Uid::from_u64(0x0a02)
}

fn b(n: u64) -> Uid {
    Uid::from_u64(0xb000 + n)
}

fn team(n: u64) -> Uid {
    Uid::from_u64(0x7000 + n)
}

fn set(names: &[&str]) -> PermissionSet {
    PermissionSet::parse_names(names.iter().copied()).unwrap()
}

fn builtin(role: BuiltinRole, scope: Scope) -> Grant {
    Grant::builtin(b(1), role, scope, Via::Direct)
}

fn one(platform_tenant: bool, g: Grant) -> Grants {
    Grants::new(platform_tenant, vec![g])
}

fn allowed(g: &Grants, p: Permission, t: Target) -> bool {
    decide(g, p, t).is_allowed()
}

// ---------------------------------------------------------------- catalogue

/// The catalogue as the issue and design state it, written out by hand so
/// the enum cannot drift from it silently.
const PLATFORM_NAMES: &[&str] = &[
    "tenant.list",
    "tenant.get",
    "tenant.create",
    "tenant.delete",
];
const TENANT_NAMES: &[&str] = &[
    "user.list",
    "user.get",
    "user.create",
    "user.update",
    "user.delete",
    "user.reset-password",
    "user.revoke-sessions",
    "user.unlock",
    "team.list",
    "team.get",
    "team.create",
    "team.update",
    "team.delete",
    "role.list",
    "role.get",
    "role.create",
    "role.update",
    "role.delete",
    "rolebinding.list",
    "rolebinding.get",
    "rolebinding.create",
    "rolebinding.delete",
    "apikey.list",
    "apikey.delete",
    "settings.get",
    "settings.update",
    "audit.list",
    "audit.export",
    "project.list",
    "project.create",
];
const PROJECT_NAMES: &[&str] = &[
    "project.get",
    "project.update",
    "project.delete",
    "cloudaccount.list",
    "cloudaccount.get",
    "cloudaccount.create",
    "cloudaccount.delete",
    "cluster.list",
    "cluster.get",
    "cluster.create",
    "cluster.update",
    "cluster.delete",
    "cluster.credentials",
    "cluster.scan",
    "projectbinding.list",
    "projectbinding.get",
    "projectbinding.create",
    "projectbinding.delete",
];

#[test]
fn catalogue_is_exactly_the_documented_one() {
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let expected: Vec<&str> = [PLATFORM_NAMES, TENANT_NAMES, PROJECT_NAMES].concat();
    assert_eq!(names, expected);
    for (names, level) in [
        (PLATFORM_NAMES, Level::Platform),
        (TENANT_NAMES, Level::Tenant),
        (PROJECT_NAMES, Level::Project),
    ] {
        for n in names {
            assert_eq!(Permission::parse(n).unwrap().level(), level, "{n}");
        }
        assert_eq!(PermissionSet::of_level(level), set(names));
    }
    assert_eq!(
        PermissionSet::PLATFORM
            .union(PermissionSet::TENANT)
            .union(PermissionSet::PROJECT),
        PermissionSet::ALL
    );
    assert_eq!(PermissionSet::ALL.len(), Permission::ALL.len());
}

#[test]
fn catalogue_positions_names_and_descriptions() {
    for (i, p) in Permission::ALL.iter().enumerate() {
        assert_eq!(*p as usize, i, "ALL must be in discriminant order");
        assert_eq!(Permission::from_index(i), Some(*p));
        let (resource, verb) = p.as_str().split_once('.').unwrap();
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_lowercase() || c == b'-');
        assert!(ok(resource) && ok(verb), "{p} is not resource.verb");
        let d = p.description();
        assert!(
            !d.is_empty() && !d.contains('\n') && d.ends_with('.'),
            "{p}: {d:?}"
        );
    }
    assert_eq!(Permission::from_index(Permission::ALL.len()), None);
    let unique: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(unique.len(), Permission::ALL.len());
}

#[test]
fn permission_parse_rejects_anything_outside_the_catalogue() {
    for bad in [
        "",
        "*",
        "cluster",
        "cluster.*",
        "*.get",
        "Cluster.get",
        "CLUSTER.GET",
        " cluster.get",
        "cluster.get ",
        "cluster.get\0",
        "cluster..get",
        "cluster.get.extra",
        "cluster_get",
        "clusterǀget",
        "rolebinding.list-project",
        "tenant.update",
    ] {
        assert_eq!(
            Permission::parse(bad),
            Err(CoreError::UnknownPermission),
            "{bad:?}"
        );
        assert!(bad.parse::<Permission>().is_err());
    }
    assert_eq!("cluster.scan".parse(), Ok(Permission::ClusterScan));
}

#[test]
fn permission_sets_parse_serialise_and_refuse_duplicates() {
    assert_eq!(
        PermissionSet::parse_names(["cluster.get", "user.list"]),
        Ok(PermissionSet::EMPTY
            .with(Permission::UserList)
            .with(Permission::ClusterGet))
    );
    assert_eq!(
        PermissionSet::parse_names(["cluster.get", "cluster.get"]),
        Err(CoreError::DuplicatePermission(Permission::ClusterGet))
    );
    assert_eq!(
        PermissionSet::parse_names(["cluster.get", "cluster.steal"]),
        Err(CoreError::UnknownPermission)
    );

    let s = set(&["cluster.get", "user.list", "tenant.get"]);
    // Catalogue order, not input order.
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"["tenant.get","user.list","cluster.get"]"#);
    assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), s);
    assert_eq!(s.to_string(), "tenant.get, user.list, cluster.get");
    assert!(serde_json::from_str::<PermissionSet>(r#"["cluster.get","cluster.get"]"#).is_err());
    assert!(serde_json::from_str::<PermissionSet>(r#"["cluster.nope"]"#).is_err());
    assert!(serde_json::from_str::<PermissionSet>(r#""cluster.get""#).is_err());
    assert_eq!(
        serde_json::to_string(&Permission::UserResetPassword).unwrap(),
        r#""user.reset-password""#
    );
}

// -------------------------------------------------------------------- roles

#[test]
fn builtin_roles_carry_exactly_the_documented_permissions() {
    let all_tenant_and_project: Vec<&str> = [TENANT_NAMES, PROJECT_NAMES].concat();
    let cases: [(BuiltinRole, PermissionSet); 6] = [
        (BuiltinRole::PlatformAdmin, PermissionSet::ALL),
        (BuiltinRole::TenantAdmin, set(&all_tenant_and_project)),
        (
            BuiltinRole::TenantViewer,
            set(&[
                "user.list",
                "user.get",
                "team.list",
                "team.get",
                "role.list",
                "role.get",
                "rolebinding.list",
                "rolebinding.get",
                "settings.get",
                "project.list",
                "project.get",
                "cloudaccount.list",
                "cloudaccount.get",
                "cluster.list",
                "cluster.get",
                "projectbinding.list",
                "projectbinding.get",
            ]),
        ),
        (BuiltinRole::ProjectAdmin, set(PROJECT_NAMES)),
        (
            BuiltinRole::ProjectEditor,
            set(&[
                "project.get",
                "cloudaccount.list",
                "cloudaccount.get",
                "cluster.list",
                "cluster.get",
                "cluster.create",
                "cluster.update",
                "cluster.delete",
                "cluster.credentials",
                "cluster.scan",
            ]),
        ),
        (
            BuiltinRole::ProjectViewer,
            set(&[
                "project.get",
                "cloudaccount.list",
                "cloudaccount.get",
                "cluster.list",
                "cluster.get",
            ]),
        ),
    ];
    for (role, expected) in cases {
        assert_eq!(role.permissions(), expected, "{role}");
    }
}

#[test]
fn tenant_viewer_is_every_read_but_audit_and_apikeys() {
    let reads: PermissionSet = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() != Level::Platform)
        .filter(|p| p.as_str().ends_with(".list") || p.as_str().ends_with(".get"))
        .collect();
    let expected = reads.difference(set(&["audit.list", "apikey.list"]));
    assert_eq!(BuiltinRole::TenantViewer.permissions(), expected);
    // And nothing that changes anything.
    for p in BuiltinRole::TenantViewer.permissions().iter() {
        assert!(
            p.as_str().ends_with(".list") || p.as_str().ends_with(".get"),
            "{p}"
        );
    }
}

#[test]
fn role_hierarchy_nests() {
    use BuiltinRole as R;
    let sub = |a: R, b: R| a.permissions().is_subset(b.permissions());
    assert!(sub(R::TenantAdmin, R::PlatformAdmin));
    assert!(sub(R::TenantViewer, R::TenantAdmin));
    assert!(sub(R::ProjectAdmin, R::TenantAdmin));
    assert!(sub(R::ProjectEditor, R::ProjectAdmin));
    assert!(sub(R::ProjectViewer, R::ProjectEditor));
    assert!(sub(R::ProjectViewer, R::TenantViewer));
    assert!(!sub(R::ProjectEditor, R::TenantViewer));
}

#[test]
fn role_names_parse_strictly() {
    for r in BuiltinRole::ALL {
        assert_eq!(BuiltinRole::parse(r.name()), Ok(r));
        assert_eq!(RoleName::parse(r.name()), Ok(RoleName::Builtin(r)));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!("\"{}\"", r.name())
        );
        assert!(!r.description().is_empty());
    }
    for bad in [
        "",
        "admin",
        "member",
        "Tenant-Admin",
        "tenant-admin ",
        "tenant_admin",
        "root",
    ] {
        assert_eq!(
            BuiltinRole::parse(bad),
            Err(CoreError::UnknownRole),
            "{bad:?}"
        );
    }
    assert!(serde_json::from_str::<BuiltinRole>(r#""owner""#).is_err());

    assert_eq!(
        RoleName::parse("cluster-operator"),
        Ok(RoleName::Custom("cluster-operator".into()))
    );
    for bad in [
        "",
        "Ops",
        "ops team",
        "-ops",
        "ops-",
        "1ops",
        &"a".repeat(64),
    ] {
        assert!(
            matches!(
                RoleName::parse(bad),
                Err(CoreError::InvalidName {
                    field: "role name",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn custom_roles_are_validated_with_specific_errors() {
    let ok = set(&["user.list", "cluster.get"]);
    assert_eq!(validate_custom_role("auditors", ok), Ok(()));
    assert_eq!(
        validate_custom_role("tenant-admin", ok),
        Err(CoreError::ReservedRoleName("tenant-admin"))
    );
    assert_eq!(
        validate_custom_role_name("platform-admin"),
        Err(CoreError::ReservedRoleName("platform-admin"))
    );
    assert!(matches!(
        validate_custom_role("Auditors", ok),
        Err(CoreError::InvalidName { .. })
    ));
    assert_eq!(
        validate_custom_role("auditors", PermissionSet::EMPTY),
        Err(CoreError::EmptyRole)
    );
    assert_eq!(
        validate_custom_role(
            "auditors",
            ok.with(Permission::TenantDelete)
                .with(Permission::TenantGet)
        ),
        Err(CoreError::PlatformPermissionInCustomRole(
            Permission::TenantGet
        ))
    );
    // Every tenant and project permission is allowed in a custom role.
    assert_eq!(
        validate_custom_role_permissions(PermissionSet::TENANT.union(PermissionSet::PROJECT)),
        Ok(())
    );
    // Errors name the permission but never echo arbitrary input.
    assert_eq!(
        CoreError::PlatformPermissionInCustomRole(Permission::TenantCreate).to_string(),
        "permission tenant.create is platform-level and cannot be part of a custom role"
    );
}

// ------------------------------------------------------------ decision rules

/// The rules restated per (role, scope, tenant) from the documented role
/// lists, independently of how `Grants` computes them.
fn expected(
    role: BuiltinRole,
    scope: Scope,
    platform_tenant: bool,
    p: Permission,
    t: Target,
) -> bool {
    let carries = role.permissions().contains(p);
    match (p.level(), t) {
        (Level::Platform, Target::Platform) => {
            carries
                && platform_tenant
                && scope == Scope::Tenant
                && role == BuiltinRole::PlatformAdmin
        }
        (Level::Tenant, Target::Tenant) | (Level::Project, Target::Tenant) => {
            carries && scope == Scope::Tenant
        }
        (Level::Project, Target::Project(x)) => {
            carries && (scope == Scope::Tenant || scope == Scope::Project(x))
        }
        _ => false,
    }
}

#[test]
fn every_builtin_role_at_every_scope_in_both_kinds_of_tenant() {
    let targets = [
        Target::Platform,
        Target::Tenant,
        Target::Project(p()),
        Target::Project(q()),
    ];
    let mut checked = 0;
    for role in BuiltinRole::ALL {
        for scope in [Scope::Tenant, Scope::Project(p())] {
            for platform_tenant in [true, false] {
                let g = one(platform_tenant, builtin(role, scope));
                for &p in Permission::ALL {
                    for t in targets {
                        let want = expected(role, scope, platform_tenant, p, t);
                        let got = decide(&g, p, t);
                        assert_eq!(
                            got.is_allowed(),
                            want,
                            "{role} at {scope:?}, platform tenant {platform_tenant}: {p} on {t:?}"
                        );
                        if let Decision::Allow(a) = got {
                            let by: Vec<Uid> = a.grants().map(Grant::binding).collect();
                            assert_eq!(by, vec![b(1)]);
                            assert_eq!((a.permission(), a.target()), (p, t));
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 2 * Permission::ALL.len() * 4);
}

/// One row: who holds what, the question, and the answer with its reason.
struct Row {
    what: &'static str,
    platform_tenant: bool,
    grants: Vec<Grant>,
    permission: Permission,
    target: Target,
    want: Result<(), Denial>,
}

fn custom(name: &str, names: &[&str], scope: Scope, via: Via) -> Grant {
    Grant::custom(b(9), Uid::from_u64(0xc0), name, set(names), scope, via)
}

#[test]
fn decision_table() {
    use BuiltinRole as R;
    use Denial::*;
    use Permission as Pm;
    use Target as T;
    let row = |what, platform_tenant, grants, permission, target, want| Row {
        what,
        platform_tenant,
        grants,
        permission,
        target,
        want,
    };
    let rows = vec![
        row(
            "nobody gets anything",
            false,
            vec![],
            Pm::ClusterGet,
            T::Project(p()),
            Err(NoGrant),
        ),
        row(
            "nobody, platform tenant",
            true,
            vec![],
            Pm::TenantList,
            T::Platform,
            Err(NoGrant),
        ),
        row(
            "nobody outside system",
            false,
            vec![],
            Pm::TenantList,
            T::Platform,
            Err(PlatformOnly),
        ),
        row(
            "platform admin lists tenants",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::TenantList,
            T::Platform,
            Ok(()),
        ),
        row(
            "platform admin deletes tenants",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::TenantDelete,
            T::Platform,
            Ok(()),
        ),
        row(
            "platform admin is a tenant admin at home",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::UserCreate,
            T::Tenant,
            Ok(()),
        ),
        row(
            "platform admin bound outside system",
            false,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::TenantList,
            T::Platform,
            Err(PlatformOnly),
        ),
        row(
            "… is still a tenant admin there",
            false,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::AuditExport,
            T::Tenant,
            Ok(()),
        ),
        row(
            "platform admin at project scope in system",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Project(p()))],
            Pm::TenantCreate,
            T::Platform,
            Err(WrongScope),
        ),
        row(
            "… gets only that project",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Project(p()))],
            Pm::ClusterDelete,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "… not the tenant",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Project(p()))],
            Pm::UserList,
            T::Tenant,
            Err(WrongScope),
        ),
        row(
            "tenant admin is no platform admin",
            true,
            vec![builtin(R::TenantAdmin, Scope::Tenant)],
            Pm::TenantList,
            T::Platform,
            Err(NoGrant),
        ),
        row(
            "tenant admin, any project",
            false,
            vec![builtin(R::TenantAdmin, Scope::Tenant)],
            Pm::ClusterCredentials,
            T::Project(q()),
            Ok(()),
        ),
        row(
            "tenant admin, all projects at once",
            false,
            vec![builtin(R::TenantAdmin, Scope::Tenant)],
            Pm::ClusterList,
            T::Tenant,
            Ok(()),
        ),
        row(
            "tenant viewer reads users",
            false,
            vec![builtin(R::TenantViewer, Scope::Tenant)],
            Pm::UserGet,
            T::Tenant,
            Ok(()),
        ),
        row(
            "tenant viewer cannot read the audit log",
            false,
            vec![builtin(R::TenantViewer, Scope::Tenant)],
            Pm::AuditList,
            T::Tenant,
            Err(NoGrant),
        ),
        row(
            "tenant viewer cannot list all API keys",
            false,
            vec![builtin(R::TenantViewer, Scope::Tenant)],
            Pm::ApikeyList,
            T::Tenant,
            Err(NoGrant),
        ),
        row(
            "tenant viewer cannot mint cluster creds",
            false,
            vec![builtin(R::TenantViewer, Scope::Tenant)],
            Pm::ClusterCredentials,
            T::Project(p()),
            Err(NoGrant),
        ),
        row(
            "tenant viewer at project scope: no users",
            false,
            vec![builtin(R::TenantViewer, Scope::Project(p()))],
            Pm::UserList,
            T::Tenant,
            Err(WrongScope),
        ),
        row(
            "tenant viewer at project scope: its clusters",
            false,
            vec![builtin(R::TenantViewer, Scope::Project(p()))],
            Pm::ClusterGet,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "project admin on p()",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Project(p()))],
            Pm::ProjectbindingCreate,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "project admin on p(), not on q()",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Project(p()))],
            Pm::ClusterGet,
            T::Project(q()),
            Err(WrongScope),
        ),
        row(
            "project admin on p(), not all projects",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Project(p()))],
            Pm::ClusterList,
            T::Tenant,
            Err(WrongScope),
        ),
        row(
            "project admin cannot create projects",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Project(p()))],
            Pm::ProjectCreate,
            T::Tenant,
            Err(NoGrant),
        ),
        row(
            "project admin at tenant scope: every project",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Tenant)],
            Pm::CloudaccountCreate,
            T::Project(q()),
            Ok(()),
        ),
        row(
            "project admin at tenant scope: no tenant bindings",
            false,
            vec![builtin(R::ProjectAdmin, Scope::Tenant)],
            Pm::RolebindingCreate,
            T::Tenant,
            Err(NoGrant),
        ),
        row(
            "project editor scans",
            false,
            vec![builtin(R::ProjectEditor, Scope::Project(p()))],
            Pm::ClusterScan,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "project editor adds no cloud account",
            false,
            vec![builtin(R::ProjectEditor, Scope::Project(p()))],
            Pm::CloudaccountCreate,
            T::Project(p()),
            Err(NoGrant),
        ),
        row(
            "project viewer reads",
            false,
            vec![builtin(R::ProjectViewer, Scope::Project(p()))],
            Pm::ClusterGet,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "project viewer cannot delete",
            false,
            vec![builtin(R::ProjectViewer, Scope::Project(p()))],
            Pm::ClusterDelete,
            T::Project(p()),
            Err(NoGrant),
        ),
        row(
            "two project grants",
            false,
            vec![
                builtin(R::ProjectViewer, Scope::Project(p())),
                builtin(R::ProjectEditor, Scope::Project(q())),
            ],
            Pm::ClusterCreate,
            T::Project(q()),
            Ok(()),
        ),
        row(
            "… do not mix",
            false,
            vec![
                builtin(R::ProjectViewer, Scope::Project(p())),
                builtin(R::ProjectEditor, Scope::Project(q())),
            ],
            Pm::ClusterCreate,
            T::Project(p()),
            Err(WrongScope),
        ),
        row(
            "team grant",
            false,
            vec![Grant::builtin(
                b(2),
                R::TenantAdmin,
                Scope::Tenant,
                Via::Team(team(1)),
            )],
            Pm::UserDelete,
            T::Tenant,
            Ok(()),
        ),
        row(
            "custom role at tenant scope",
            false,
            vec![custom(
                "auditor",
                &["audit.list", "audit.export"],
                Scope::Tenant,
                Via::Direct,
            )],
            Pm::AuditExport,
            T::Tenant,
            Ok(()),
        ),
        row(
            "custom role at project scope drops tenant permissions",
            false,
            vec![custom(
                "mixed",
                &["user.list", "cluster.get"],
                Scope::Project(p()),
                Via::Direct,
            )],
            Pm::UserList,
            T::Tenant,
            Err(WrongScope),
        ),
        row(
            "… keeps project permissions for that project",
            false,
            vec![custom(
                "mixed",
                &["user.list", "cluster.get"],
                Scope::Project(p()),
                Via::Direct,
            )],
            Pm::ClusterGet,
            T::Project(p()),
            Ok(()),
        ),
        row(
            "tampered custom role with platform permission",
            true,
            vec![custom(
                "evil",
                &["tenant.delete"],
                Scope::Tenant,
                Via::Direct,
            )],
            Pm::TenantDelete,
            T::Platform,
            Err(WrongScope),
        ),
        row(
            "platform permission on the tenant",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::TenantList,
            T::Tenant,
            Err(TargetMismatch),
        ),
        row(
            "tenant permission on a project",
            false,
            vec![builtin(R::TenantAdmin, Scope::Tenant)],
            Pm::UserList,
            T::Project(p()),
            Err(TargetMismatch),
        ),
        row(
            "project permission on the platform",
            true,
            vec![builtin(R::PlatformAdmin, Scope::Tenant)],
            Pm::ClusterGet,
            T::Platform,
            Err(TargetMismatch),
        ),
    ];
    for r in rows {
        let g = Grants::new(r.platform_tenant, r.grants);
        let got = decide(&g, r.permission, r.target).into_result().map(|_| ());
        assert_eq!(got, r.want, "{}", r.what);
    }
}

#[test]
fn denials_have_stable_codes_and_messages() {
    let all = [
        Denial::NoGrant,
        Denial::WrongScope,
        Denial::PlatformOnly,
        Denial::TargetMismatch,
    ];
    let codes: BTreeSet<&str> = all.iter().map(|d| d.code()).collect();
    assert_eq!(codes.len(), all.len());
    for d in all {
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"{}\"", d.code())
        );
        assert!(!d.to_string().is_empty());
    }
}

#[test]
fn team_and_direct_grants_are_both_reported() {
    let g = Grants::new(
        false,
        vec![
            Grant::builtin(
                b(1),
                BuiltinRole::ProjectViewer,
                Scope::Project(p()),
                Via::Direct,
            ),
            Grant::builtin(
                b(2),
                BuiltinRole::ProjectEditor,
                Scope::Project(p()),
                Via::Team(team(1)),
            ),
            Grant::builtin(
                b(3),
                BuiltinRole::TenantViewer,
                Scope::Tenant,
                Via::Team(team(2)),
            ),
        ],
    );
    let d = decide(&g, Permission::ClusterGet, Target::Project(p()));
    let Decision::Allow(a) = d else {
        panic!("{d:?}")
    };
    let by: Vec<(Uid, Via)> = a.grants().map(|g| (g.binding(), g.via())).collect();
    assert_eq!(
        by,
        vec![
            (b(1), Via::Direct),
            (b(2), Via::Team(team(1))),
            (b(3), Via::Team(team(2)))
        ]
    );
    let d = decide(&g, Permission::ClusterScan, Target::Project(p()));
    let Decision::Allow(a) = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        a.grants().map(Grant::binding).collect::<Vec<_>>(),
        vec![b(2)]
    );
}

// -------------------------------------------------------------- visibility

#[test]
fn visible_projects_filters_lists() {
    let tenant = one(false, builtin(BuiltinRole::TenantViewer, Scope::Tenant));
    assert_eq!(
        visible_projects(&tenant, Permission::ProjectGet),
        ProjectVisibility::All
    );

    let two = Grants::new(
        false,
        vec![
            builtin(BuiltinRole::ProjectViewer, Scope::Project(p())),
            builtin(BuiltinRole::ProjectEditor, Scope::Project(q())),
        ],
    );
    let v = visible_projects(&two, Permission::ProjectGet);
    assert_eq!(v, ProjectVisibility::Only([p(), q()].into()));
    assert!(v.contains(p()) && !v.contains(Uid::from_u64(1)));
    assert_eq!(
        visible_projects(&two, Permission::ClusterCreate),
        ProjectVisibility::Only([q()].into())
    );
    assert!(visible_projects(&two, Permission::ProjectDelete).is_none());
    // Tenant-level permissions: all or nothing.
    assert!(visible_projects(&two, Permission::ProjectList).is_none());
    assert_eq!(
        visible_projects(&tenant, Permission::ProjectList),
        ProjectVisibility::All
    );
    assert!(visible_projects(&Grants::none(true), Permission::TenantList).is_none());
}

// ---------------------------------------------------------- escalation guard

#[test]
fn escalation_guard_for_bindings_and_roles() {
    use BuiltinRole as R;
    let home_admin = one(true, builtin(R::TenantAdmin, Scope::Tenant));
    let platform_admin = one(true, builtin(R::PlatformAdmin, Scope::Tenant));
    let elsewhere_admin = one(false, builtin(R::TenantAdmin, Scope::Tenant));
    let p_admin = one(false, builtin(R::ProjectAdmin, Scope::Project(p())));
    let p_editor = one(false, builtin(R::ProjectEditor, Scope::Project(p())));

    // A tenant admin of system cannot make a platform admin…
    assert_eq!(
        check_grantable(&home_admin, R::PlatformAdmin.permissions(), Scope::Tenant),
        Err(Missing {
            at: Target::Platform,
            permissions: PermissionSet::PLATFORM
        })
    );
    // …a platform admin can…
    assert_eq!(
        check_grantable(
            &platform_admin,
            R::PlatformAdmin.permissions(),
            Scope::Tenant
        ),
        Ok(())
    );
    // …and outside system binding platform-admin confers nothing platform-level.
    assert_eq!(
        check_grantable(
            &elsewhere_admin,
            R::PlatformAdmin.permissions(),
            Scope::Tenant
        ),
        Ok(())
    );
    for r in R::ALL.into_iter().skip(1) {
        for scope in [Scope::Tenant, Scope::Project(q())] {
            assert_eq!(
                check_grantable(&elsewhere_admin, r.permissions(), scope),
                Ok(()),
                "{r}"
            );
        }
    }

    // A project admin of p() grants within p() only.
    assert_eq!(
        check_grantable(
            &p_admin,
            R::ProjectEditor.permissions(),
            Scope::Project(p())
        ),
        Ok(())
    );
    assert_eq!(
        check_grantable(
            &p_admin,
            R::ProjectViewer.permissions(),
            Scope::Project(q())
        ),
        Err(Missing {
            at: Target::Project(q()),
            permissions: R::ProjectViewer.permissions()
        })
    );
    assert_eq!(
        check_grantable(&p_admin, R::ProjectViewer.permissions(), Scope::Tenant),
        Err(Missing {
            at: Target::Tenant,
            permissions: R::ProjectViewer.permissions()
        })
    );
    // Binding a broad role at p()'s scope confers only p()'s project permissions,
    // which the project admin holds.
    assert_eq!(
        check_grantable(&p_admin, R::TenantAdmin.permissions(), Scope::Project(p())),
        Ok(())
    );

    // An editor cannot make an admin.
    let missing = check_grantable(
        &p_editor,
        R::ProjectAdmin.permissions(),
        Scope::Project(p()),
    )
    .unwrap_err();
    assert_eq!(
        missing.permissions,
        set(&[
            "project.update",
            "project.delete",
            "cloudaccount.create",
            "cloudaccount.delete",
            "projectbinding.list",
            "projectbinding.get",
            "projectbinding.create",
            "projectbinding.delete",
        ])
    );
    assert_eq!(
        missing.to_string(),
        format!(
            "missing in project {}: project.update, project.delete, cloudaccount.create, \
             cloudaccount.delete, projectbinding.list, projectbinding.get, \
             projectbinding.create, projectbinding.delete",
            p()
        )
    );

    // A custom "role manager" creates roles only from what it holds.
    let role_manager = one(
        false,
        custom(
            "role-manager",
            &["role.create", "cluster.get", "cluster.list"],
            Scope::Tenant,
            Via::Direct,
        ),
    );
    assert_eq!(
        check_grantable(&role_manager, set(&["cluster.get"]), Scope::Tenant),
        Ok(())
    );
    assert_eq!(
        check_grantable(
            &role_manager,
            set(&["cluster.get", "cluster.delete", "user.delete"]),
            Scope::Tenant
        ),
        Err(Missing {
            at: Target::Tenant,
            permissions: set(&["user.delete", "cluster.delete"])
        })
    );
    // Nobody grants anything.
    assert!(
        check_grantable(
            &Grants::none(true),
            set(&["project.get"]),
            Scope::Project(p())
        )
        .is_err()
    );
    // Granting nothing is always fine.
    assert_eq!(
        check_grantable(&Grants::none(false), PermissionSet::EMPTY, Scope::Tenant),
        Ok(())
    );
}

#[test]
fn escalation_guard_for_team_membership() {
    use BuiltinRole as R;
    // A custom role that may edit teams but is otherwise a project viewer.
    let team_editor = one(
        false,
        custom(
            "team-editor",
            &[
                "team.update",
                "project.get",
                "cluster.get",
                "cluster.list",
                "cloudaccount.list",
                "cloudaccount.get",
            ],
            Scope::Tenant,
            Via::Direct,
        ),
    );
    let viewers_team = [(R::ProjectViewer.permissions(), Scope::Project(p()))];
    assert_eq!(check_team_membership(&team_editor, viewers_team), Ok(()));
    let admins_team = [
        (R::ProjectViewer.permissions(), Scope::Project(p())),
        (R::TenantAdmin.permissions(), Scope::Tenant),
    ];
    let err = check_team_membership(&team_editor, admins_team).unwrap_err();
    assert_eq!(err.at, Target::Tenant);
    assert!(err.permissions.contains(Permission::UserCreate));
    assert!(!err.permissions.contains(Permission::TeamUpdate));
    assert_eq!(check_team_membership(&team_editor, []), Ok(()));
}

#[test]
fn guard_for_acting_on_other_users() {
    use BuiltinRole as R;
    let admin = one(false, builtin(R::TenantAdmin, Scope::Tenant));
    let helpdesk = one(
        false,
        custom(
            "helpdesk",
            &[
                "user.list",
                "user.get",
                "user.reset-password",
                "user.unlock",
            ],
            Scope::Tenant,
            Via::Direct,
        ),
    );
    let viewer = one(false, builtin(R::ProjectViewer, Scope::Project(p())));
    // The helpdesk may reset a project viewer's password…
    assert_eq!(
        check_covers(&helpdesk, &viewer),
        Err(Missing {
            at: Target::Project(p()),
            permissions: R::ProjectViewer.permissions()
        })
    );
    // …no: the viewer holds project permissions the helpdesk lacks, so a
    // helpdesk role needs them too. A tenant admin covers both.
    assert_eq!(check_covers(&admin, &viewer), Ok(()));
    assert_eq!(check_covers(&admin, &helpdesk), Ok(()));
    let err = check_covers(&helpdesk, &admin).unwrap_err();
    assert_eq!(err.at, Target::Tenant);
    assert!(err.permissions.contains(Permission::RolebindingCreate));
    // A platform admin is covered only by a platform admin.
    let pa = one(true, builtin(R::PlatformAdmin, Scope::Tenant));
    let ta = one(true, builtin(R::TenantAdmin, Scope::Tenant));
    assert_eq!(check_covers(&ta, &pa).unwrap_err().at, Target::Platform);
    assert_eq!(check_covers(&pa, &ta), Ok(()));
    // Anyone covers someone who holds nothing.
    assert_eq!(
        check_covers(&Grants::none(false), &Grants::none(false)),
        Ok(())
    );
}

// ------------------------------------------------------------------ explain

#[test]
fn explain_says_what_and_why() {
    let g = Grants::new(
        true,
        vec![
            Grant::builtin(
                b(3),
                BuiltinRole::ProjectViewer,
                Scope::Project(q()),
                Via::Team(team(1)),
            ),
            Grant::builtin(b(1), BuiltinRole::PlatformAdmin, Scope::Tenant, Via::Direct),
            Grant::builtin(
                b(2),
                BuiltinRole::ProjectViewer,
                Scope::Project(p()),
                Via::Direct,
            ),
        ],
    );
    let e = explain(&g);
    assert_eq!(e.len(), Permission::ALL.len());
    let perms: Vec<Permission> = e.iter().map(|x| x.permission).collect();
    assert_eq!(perms, Permission::ALL);

    let tenant_list = &e[0];
    assert_eq!(tenant_list.permission, Permission::TenantList);
    assert_eq!(tenant_list.level, Level::Platform);
    assert_eq!(tenant_list.holdings.len(), 1);
    assert_eq!(tenant_list.holdings[0].at, Target::Platform);

    let cluster_get = e
        .iter()
        .find(|x| x.permission == Permission::ClusterGet)
        .unwrap();
    let at: Vec<(Target, Uid, &str, Via)> = cluster_get
        .holdings
        .iter()
        .map(|h| (h.at, h.binding, h.role.as_str(), h.via))
        .collect();
    assert_eq!(
        at,
        vec![
            (Target::Tenant, b(1), "platform-admin", Via::Direct),
            (Target::Project(p()), b(2), "project-viewer", Via::Direct),
            (
                Target::Project(q()),
                b(3),
                "project-viewer",
                Via::Team(team(1))
            ),
        ]
    );

    // The JSON the explain endpoint will return.
    let json = serde_json::to_value(cluster_get).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "permission": "cluster.get",
            "level": "project",
            "description": "Read a cluster.",
            "holdings": [
                {"at": "tenant", "binding": b(1).to_string(), "role": "platform-admin",
                 "roleRef": {"builtin": "platform-admin"}, "via": "direct"},
                {"at": {"project": p().to_string()}, "binding": b(2).to_string(), "role": "project-viewer",
                 "roleRef": {"builtin": "project-viewer"}, "via": "direct"},
                {"at": {"project": q().to_string()}, "binding": b(3).to_string(), "role": "project-viewer",
                 "roleRef": {"builtin": "project-viewer"}, "via": {"team": team(1).to_string()}},
            ]
        })
    );
    assert!(explain(&Grants::none(true)).is_empty());
    assert!(
        explain_ignored(&g)
            .iter()
            .all(|i| i.reason == IgnoredReason::ProjectScope)
    );
}

#[test]
fn explain_ignored_says_what_does_not_count() {
    let g = Grants::new(
        false,
        vec![
            builtin(BuiltinRole::PlatformAdmin, Scope::Tenant),
            Grant::custom(
                b(4),
                Uid::from_u64(0xc1),
                "mixed",
                set(&["user.list", "cluster.get"]),
                Scope::Project(p()),
                Via::Team(team(3)),
            ),
            Grant::custom(
                b(5),
                Uid::from_u64(0xc2),
                "evil",
                set(&["tenant.get", "audit.list"]),
                Scope::Tenant,
                Via::Direct,
            ),
            builtin(BuiltinRole::ProjectViewer, Scope::Project(q())),
        ],
    );
    let rows: Vec<(Uid, IgnoredReason, PermissionSet)> = explain_ignored(&g)
        .into_iter()
        .map(|i| (i.binding, i.reason, i.permissions))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                b(1),
                IgnoredReason::NotPlatformTenant,
                PermissionSet::PLATFORM
            ),
            (b(4), IgnoredReason::ProjectScope, set(&["user.list"])),
            (b(5), IgnoredReason::CustomRole, set(&["tenant.get"])),
        ]
    );
}

#[test]
fn bindings_and_scopes_serialise_plainly() {
    let binding = Binding {
        uid: b(1),
        subject: Subject::Team(team(1)),
        role: RoleRef::Builtin(BuiltinRole::ProjectEditor),
        scope: Scope::Project(p()),
    };
    let json = serde_json::to_value(binding).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "uid": b(1).to_string(),
            "subject": {"team": team(1).to_string()},
            "role": {"builtin": "project-editor"},
            "scope": {"project": p().to_string()},
        })
    );
    assert_eq!(serde_json::from_value::<Binding>(json).unwrap(), binding);
    let custom = serde_json::json!({
        "uid": b(2).to_string(), "subject": {"user": b(3).to_string()},
        "role": {"custom": b(4).to_string()}, "scope": "tenant",
    });
    let parsed: Binding = serde_json::from_value(custom.clone()).unwrap();
    assert_eq!(parsed.scope, Scope::Tenant);
    assert_eq!(parsed.role, RoleRef::Custom(b(4)));
    let mut extra = custom;
    extra["tenant"] = serde_json::json!("000000000001");
    assert!(
        serde_json::from_value::<Binding>(extra).is_err(),
        "unknown fields are refused"
    );
    assert!(serde_json::from_value::<Scope>(serde_json::json!({"project": "ZZ"})).is_err());
}

// --------------------------------------------------------------- properties

fn arb_permission() -> impl Strategy<Value = Permission> {
    (0..Permission::ALL.len()).prop_map(|i| Permission::ALL[i])
}

fn arb_set() -> impl Strategy<Value = PermissionSet> {
    proptest::collection::vec(arb_permission(), 0..24).prop_map(|v| v.into_iter().collect())
}

/// Projects 1..=3 appear in grants; 4 never does.
fn arb_project() -> impl Strategy<Value = Uid> {
    (1u64..=3).prop_map(Uid::from_u64)
}

fn arb_scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Tenant), arb_project().prop_map(Scope::Project)]
}

fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Platform),
        Just(Target::Tenant),
        (1u64..=4).prop_map(|v| Target::Project(Uid::from_u64(v))),
    ]
}

fn all_targets() -> Vec<Target> {
    let mut t = vec![Target::Platform, Target::Tenant];
    t.extend((1u64..=4).map(|v| Target::Project(Uid::from_u64(v))));
    t
}

fn arb_grant() -> impl Strategy<Value = Grant> {
    let via = prop_oneof![
        Just(Via::Direct),
        (1u64..=2).prop_map(|t| Via::Team(team(t)))
    ];
    let role = prop_oneof![
        (0..BuiltinRole::ALL.len()).prop_map(|i| Ok(BuiltinRole::ALL[i])),
        // Unvalidated custom sets on purpose, platform permissions included:
        // the model must hold even for a tampered row.
        arb_set().prop_map(Err),
    ];
    (1u64..=20, role, arb_scope(), via).prop_map(|(n, role, scope, via)| match role {
        Ok(r) => Grant::builtin(b(n), r, scope, via),
        Err(s) => Grant::custom(
            b(n),
            Uid::from_u64(0xc000 + n),
            format!("custom-{n}"),
            s,
            scope,
            via,
        ),
    })
}

fn arb_grants() -> impl Strategy<Value = Grants> {
    (any::<bool>(), proptest::collection::vec(arb_grant(), 0..6))
        .prop_map(|(pt, gs)| Grants::new(pt, gs))
}

/// Whether an explain holding covers a target, by the documented meaning.
fn holding_covers(level: Level, at: Target, t: Target) -> bool {
    match (level, at, t) {
        (Level::Platform, Target::Platform, Target::Platform) => true,
        (Level::Tenant, Target::Tenant, Target::Tenant) => true,
        (Level::Project, Target::Tenant, Target::Tenant | Target::Project(_)) => true,
        (Level::Project, Target::Project(a), Target::Project(b)) => a == b,
        _ => false,
    }
}

/// The grant guard is sound for every role and exact for valid ones: it
/// passes exactly when the grantee would gain nothing the actor lacks.
fn guard_is_exact(actor: &Grants, new: Grant) -> Result<(), TestCaseError> {
    let passes = check_grantable(actor, new.role_permissions(), new.scope()).is_ok();
    let grantee = Grants::new(actor.is_platform_tenant(), vec![new.clone()]);
    let mut escalates = false;
    for &p in Permission::ALL {
        for t in all_targets() {
            if allowed(&grantee, p, t) && !allowed(actor, p, t) {
                escalates = true;
            }
        }
    }
    if passes {
        prop_assert!(!escalates, "the guard let {:?} escalate", new);
    }
    // Exact for a built-in role or a custom one without platform permissions.
    let valid = matches!(new.role(), GrantRole::Builtin(_))
        || new
            .role_permissions()
            .intersection(PermissionSet::PLATFORM)
            .is_empty();
    if valid {
        prop_assert_eq!(passes, !escalates, "{:?}", new);
    }
    Ok(())
}

fn arb_builtin_grant() -> impl Strategy<Value = Grant> {
    (1u64..=20, 0..BuiltinRole::ALL.len(), arb_scope())
        .prop_map(|(n, r, scope)| Grant::builtin(b(n), BuiltinRole::ALL[r], scope, Via::Direct))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_grant_denies_everything(pt in any::<bool>(), p in arb_permission(), t in arb_target()) {
        let none = Grants::none(pt);
        let d = decide(&none, p, t);
        prop_assert!(!d.is_allowed());
        prop_assert!(matches!(
            d.denial(),
            Some(Denial::NoGrant | Denial::PlatformOnly | Denial::TargetMismatch)
        ));
    }

    #[test]
    fn adding_grants_never_removes_permissions(g in arb_grants(), extra in proptest::collection::vec(arb_grant(), 1..4)) {
        let mut more = g.clone();
        for e in extra {
            more.push(e);
        }
        for &p in Permission::ALL {
            for t in all_targets() {
                if allowed(&g, p, t) {
                    prop_assert!(allowed(&more, p, t), "{p} on {t:?} lost");
                }
            }
        }
    }

    #[test]
    fn project_grants_stay_in_their_project(
        pt in any::<bool>(),
        grants in proptest::collection::vec(arb_grant(), 1..6),
        p in arb_project(),
    ) {
        // Re-scope every grant to project p.
        let grants: Vec<Grant> = grants.into_iter().map(|g| match g.role().clone() {
            GrantRole::Builtin(r) => Grant::builtin(g.binding(), r, Scope::Project(p), g.via()),
            GrantRole::Custom { uid, name } => Grant::custom(g.binding(), uid, name, g.role_permissions(), Scope::Project(p), g.via()),
        }).collect();
        let g = Grants::new(pt, grants);
        for &perm in Permission::ALL {
            for t in all_targets() {
                if allowed(&g, perm, t) {
                    prop_assert_eq!(perm.level(), Level::Project);
                    prop_assert_eq!(t, Target::Project(p));
                }
            }
        }
    }

    #[test]
    fn explain_agrees_with_decide(g in arb_grants()) {
        let e = explain(&g);
        // Sorted, no duplicates, no empty entries.
        prop_assert!(e.windows(2).all(|w| w[0].permission < w[1].permission));
        for x in &e {
            prop_assert!(!x.holdings.is_empty());
            // Every holding is somewhere the permission can hold.
            for h in &x.holdings {
                prop_assert!(holding_covers(x.level, h.at, h.at), "{:?}", h);
            }
            prop_assert!(x.holdings.windows(2).all(|w| w[0] < w[1]));
        }
        for &p in Permission::ALL {
            let entry = e.iter().find(|x| x.permission == p);
            for t in all_targets() {
                let by_explain: BTreeSet<Uid> = entry
                    .map(|x| x.holdings.iter().filter(|h| holding_covers(p.level(), h.at, t)).map(|h| h.binding).collect())
                    .unwrap_or_default();
                let d = decide(&g, p, t);
                prop_assert_eq!(d.is_allowed(), !by_explain.is_empty(), "{} on {:?}", p, t);
                if let Decision::Allow(a) = d {
                    let by_decide: BTreeSet<Uid> = a.grants().map(Grant::binding).collect();
                    prop_assert_eq!(by_decide, by_explain);
                }
                // held_at is the same answer as a set.
                if decide(&g, p, t).denial() != Some(Denial::TargetMismatch) {
                    prop_assert_eq!(g.held_at(t).contains(p), d.is_allowed());
                }
            }
        }
    }

    #[test]
    fn visible_projects_agrees_with_decide(g in arb_grants(), p in arb_permission()) {
        let v = visible_projects(&g, p);
        if p.level() == Level::Project {
            for q in 1u64..=4 {
                let q = Uid::from_u64(q);
                prop_assert_eq!(v.contains(q), allowed(&g, p, Target::Project(q)));
            }
            prop_assert_eq!(v == ProjectVisibility::All, allowed(&g, p, Target::Tenant));
        }
    }

    #[test]
    fn the_grant_guard_is_exact(
        actor in arb_grants(),
        new in arb_grant(),
        from_actor in any::<proptest::sample::Index>(),
        copy in any::<bool>(),
    ) {
        // Half the time re-grant one of the actor's own bindings, which must
        // pass, so the guard's "yes" side is exercised as much as its "no".
        let own = copy.then(|| actor.iter().nth(from_actor.index(actor.iter().len().max(1)))).flatten();
        if let Some(own) = own {
            let builtin = matches!(own.role(), GrantRole::Builtin(_));
            let valid = builtin || own.role_permissions().intersection(PermissionSet::PLATFORM).is_empty();
            let ok = check_grantable(&actor, own.role_permissions(), own.scope()).is_ok();
            prop_assert!(ok || !valid, "re-granting {:?} refused", own);
        }
        guard_is_exact(&actor, own.cloned().unwrap_or(new))?;
    }

    #[test]
    fn the_grant_guard_is_exact_for_builtin_roles(
        pt in any::<bool>(),
        actor in proptest::collection::vec(arb_builtin_grant(), 0..4),
        new in arb_builtin_grant(),
    ) {
        guard_is_exact(&Grants::new(pt, actor), new)?;
    }

    #[test]
    fn covering_means_holding_everything_the_subject_holds(
        pt in any::<bool>(),
        a in proptest::collection::vec(arb_grant(), 0..6),
        s in proptest::collection::vec(arb_grant(), 0..6),
    ) {
        let actor = Grants::new(pt, a);
        let subject = Grants::new(pt, s);
        prop_assert_eq!(check_covers(&subject, &subject), Ok(()));
        let covers = check_covers(&actor, &subject).is_ok();
        let mut all_held = true;
        for &p in Permission::ALL {
            for t in all_targets() {
                if allowed(&subject, p, t) && !allowed(&actor, p, t) {
                    all_held = false;
                }
            }
        }
        prop_assert_eq!(covers, all_held);
    }

    #[test]
    fn grant_order_does_not_matter(pt in any::<bool>(), gs in proptest::collection::vec(arb_grant(), 0..6)) {
        let fwd = Grants::new(pt, gs.clone());
        let rev = Grants::new(pt, gs.into_iter().rev().collect());
        prop_assert_eq!(explain(&fwd), explain(&rev));
        prop_assert_eq!(explain_ignored(&fwd), explain_ignored(&rev));
        for &p in Permission::ALL {
            for t in all_targets() {
                prop_assert_eq!(decide(&fwd, p, t).denial(), decide(&rev, p, t).denial());
            }
        }
    }

    #[test]
    fn denial_reasons_are_truthful(g in arb_grants(), p in arb_permission(), t in arb_target()) {
        match decide(&g, p, t).denial() {
            Some(Denial::NoGrant) => {
                prop_assert!(g.iter().all(|x| !x.role_permissions().contains(p)));
            }
            Some(Denial::PlatformOnly) => {
                prop_assert_eq!(p.level(), Level::Platform);
                prop_assert!(!g.is_platform_tenant());
            }
            Some(Denial::TargetMismatch) => {
                prop_assert!(matches!(
                    (p.level(), t),
                    (Level::Platform, Target::Tenant | Target::Project(_))
                        | (Level::Tenant, Target::Platform | Target::Project(_))
                        | (Level::Project, Target::Platform)
                ));
            }
            Some(Denial::WrongScope) => {
                prop_assert!(g.iter().any(|x| x.role_permissions().contains(p)));
            }
            None => {}
        }
    }

    #[test]
    fn permission_parse_accepts_only_canonical_names(s in ".{0,30}") {
        if let Ok(p) = Permission::parse(&s) {
            prop_assert_eq!(p.as_str(), s.as_str());
        }
    }

    #[test]
    fn permission_parse_round_trips(p in arb_permission()) {
        prop_assert_eq!(Permission::parse(p.as_str()), Ok(p));
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<Permission>(&json).unwrap(), p);
    }

    #[test]
    fn near_miss_permission_names_are_refused(p in arb_permission(), i in 0usize..40, c in any::<char>()) {
        let mut s: Vec<char> = p.as_str().chars().collect();
        let i = i % (s.len() + 1);
        s.insert(i, c);
        let s: String = s.into_iter().collect();
        if let Ok(q) = Permission::parse(&s) {
            prop_assert_eq!(q.as_str(), s.as_str());
        }
        prop_assert!(Permission::parse(&p.as_str().to_uppercase()).is_err());
    }

    #[test]
    fn role_name_parse_accepts_only_what_it_returns(s in "[a-z0-9-]{0,12}|.{0,20}") {
        if let Ok(n) = RoleName::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
            prop_assert_eq!(matches!(n, RoleName::Builtin(_)), BuiltinRole::parse(&s).is_ok());
        }
        if let Ok(r) = BuiltinRole::parse(&s) {
            prop_assert_eq!(r.name(), s.as_str());
        }
    }

    #[test]
    fn permission_sets_round_trip(s in arb_set()) {
        let v: Vec<Permission> = s.iter().collect();
        prop_assert_eq!(v.len(), s.len());
        prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(v.iter().copied().collect::<PermissionSet>(), s);
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), s);
        let names: Vec<&str> = v.iter().map(|p| p.as_str()).collect();
        prop_assert_eq!(PermissionSet::parse_names(names), Ok(s));
    }
}
