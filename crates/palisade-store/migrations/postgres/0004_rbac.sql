-- Palisade schema v4: role-based access control. Teams of users, custom
-- roles per tenant, and bindings of a user or team to a role (built-in, by
-- name, or custom, by UID) at tenant scope or one project's scope.
CREATE TABLE teams (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_uid, name)
);
CREATE TABLE team_members (
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    team_uid TEXT NOT NULL REFERENCES teams(uid) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_uid, user_uid)
);
CREATE INDEX team_members_user ON team_members (tenant_uid, user_uid);
CREATE TABLE roles (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_uid, name)
);
CREATE TABLE role_bindings (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'team')),
    subject_uid TEXT NOT NULL,
    role_name TEXT,
    role_uid TEXT REFERENCES roles(uid) ON DELETE RESTRICT,
    project_uid TEXT REFERENCES projects(uid) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    CHECK ((role_name IS NULL) <> (role_uid IS NULL))
);
CREATE UNIQUE INDEX role_bindings_unique ON role_bindings
    (tenant_uid, subject_kind, subject_uid, COALESCE(role_name, role_uid), COALESCE(project_uid, ''));
CREATE INDEX role_bindings_subject ON role_bindings (tenant_uid, subject_kind, subject_uid);
CREATE INDEX role_bindings_project ON role_bindings (tenant_uid, project_uid);
-- The old two-level role becomes bindings: tenant admins keep their rights
-- (administrators of the platform tenant become platform admins). The UID
-- comes from gen_random_uuid (the OS's CSPRNG); its first 12 hex digits are random.
INSERT INTO role_bindings (uid, tenant_uid, subject_kind, subject_uid, role_name, role_uid, project_uid, created_at)
SELECT substr(replace(gen_random_uuid()::text, '-', ''), 1, 12), u.tenant_uid, 'user', u.uid,
       CASE WHEN t.name = 'system' THEN 'platform-admin' ELSE 'tenant-admin' END,
       NULL, NULL, u.updated_at
FROM users u JOIN tenants t ON t.uid = u.tenant_uid
WHERE u.role = 'tenant-admin';
ALTER TABLE users DROP COLUMN role;
-- Row-level security, as on every tenant-owned table.
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_members
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE role_bindings ENABLE ROW LEVEL SECURITY;
ALTER TABLE role_bindings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON role_bindings
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
