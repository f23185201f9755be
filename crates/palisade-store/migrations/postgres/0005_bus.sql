-- Palisade schema v5: the tenant bus. Per tenant, the state of its NATS
-- account (an outbox: `revision` is the account JWT to push, `applied` the
-- last revision the running nats-server confirmed); per cluster, its current
-- credentials and what its agent last reported; jobs sent to agents.
-- bus_accounts has no foreign key to tenants: a deleted tenant's row stays
-- (deleted = 1) until its tombstone JWT has been pushed.
CREATE TABLE bus_accounts (
    tenant_uid TEXT NOT NULL PRIMARY KEY,
    signing_version BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    applied BIGINT NOT NULL,
    revocations TEXT NOT NULL,
    deleted BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX bus_accounts_pending ON bus_accounts (applied, revision);
CREATE TABLE bus_clusters (
    cluster_uid TEXT NOT NULL PRIMARY KEY REFERENCES clusters(uid) ON DELETE CASCADE,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    user_key TEXT,
    issued_at BIGINT,
    expires_at BIGINT,
    last_seen BIGINT,
    agent_version TEXT,
    hostname TEXT
);
CREATE INDEX bus_clusters_tenant ON bus_clusters (tenant_uid, cluster_uid);
CREATE TABLE bus_jobs (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    project_uid TEXT NOT NULL REFERENCES projects(uid) ON DELETE CASCADE,
    cluster_uid TEXT NOT NULL REFERENCES clusters(uid) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('ping', 'harden-scan')),
    profile TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'succeeded', 'failed')),
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    finished_at BIGINT,
    error TEXT,
    report_enc TEXT,
    message_uid TEXT,
    CHECK ((kind = 'harden-scan') = (profile IS NOT NULL))
);
CREATE INDEX bus_jobs_cluster ON bus_jobs (tenant_uid, cluster_uid, uid);
CREATE INDEX bus_jobs_open ON bus_jobs (status, tenant_uid);
-- Every existing tenant gets its account: revision 1, not yet applied.
INSERT INTO bus_accounts (tenant_uid, signing_version, revision, applied, revocations, deleted, updated_at)
SELECT uid, 1, 1, 0, '{}', 0, created_at FROM tenants;
ALTER TABLE bus_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE bus_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON bus_accounts
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE bus_clusters ENABLE ROW LEVEL SECURITY;
ALTER TABLE bus_clusters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON bus_clusters
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE bus_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE bus_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON bus_jobs
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
