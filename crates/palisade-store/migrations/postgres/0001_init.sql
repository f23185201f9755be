-- Palisade schema v1 (PostgreSQL). Private fields hold envelopes (pal1.…), never plaintext.
CREATE TABLE installation (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    installation_uid TEXT NOT NULL,
    key_check TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE tenants (
    uid TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE tenant_keys (
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    root_version BIGINT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_uid, version)
);
CREATE TABLE users (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    email_index TEXT NOT NULL,
    email_enc TEXT NOT NULL,
    display_name_enc TEXT NOT NULL,
    password_hash TEXT,
    must_change_password BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_uid, email_index)
);
CREATE TABLE projects (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_uid, name)
);
CREATE TABLE cloud_accounts (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    project_uid TEXT NOT NULL REFERENCES projects(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    credentials_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_uid, name)
);
CREATE TABLE clusters (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    project_uid TEXT NOT NULL REFERENCES projects(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    cloud_account_uid TEXT REFERENCES cloud_accounts(uid) ON DELETE RESTRICT,
    created_at BIGINT NOT NULL,
    UNIQUE (project_uid, name)
);
CREATE INDEX users_tenant ON users (tenant_uid, uid);
CREATE INDEX projects_tenant ON projects (tenant_uid, uid);
CREATE INDEX cloud_accounts_project ON cloud_accounts (tenant_uid, project_uid, uid);
CREATE INDEX clusters_project ON clusters (tenant_uid, project_uid, uid);

-- Row-level security: a second wall behind the application's own tenant
-- filters. Every transaction on tenant data sets palisade.tenant_uid (local to
-- the transaction); platform operations set it to '*'. Unset means no rows.
-- FORCE makes the policies apply to the table owner too; superusers and roles
-- with BYPASSRLS still bypass them, so run Palisade as an ordinary role.
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_keys
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE cloud_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE cloud_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cloud_accounts
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE clusters ENABLE ROW LEVEL SECURITY;
ALTER TABLE clusters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clusters
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
