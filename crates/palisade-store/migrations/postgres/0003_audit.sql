-- Palisade schema v3: the audit log. One hash chain per tenant; each event
-- is written in the same transaction as the change it records. No foreign
-- key to tenants: a deleted tenant's log stays until retention removes it.
CREATE TABLE audit_events (
    tenant_uid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    uid TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_uid TEXT,
    api_key_uid TEXT,
    session_uid TEXT,
    request_uid TEXT,
    client_ip TEXT,
    user_agent TEXT,
    action TEXT NOT NULL,
    target_type TEXT,
    target_uid TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_uid, seq)
);
CREATE INDEX audit_events_at ON audit_events (tenant_uid, at);
-- The signed head of each log: re-signed on every append, so events cut
-- off the end are detected. base_* mark where retention cut the log.
CREATE TABLE audit_heads (
    tenant_uid TEXT NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    signature TEXT NOT NULL,
    base_seq BIGINT NOT NULL,
    base_hash TEXT NOT NULL,
    checkpoint_at BIGINT NOT NULL
);
CREATE TABLE audit_checkpoints (
    tenant_uid TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (tenant_uid, seq)
);
-- Append-only: events are never updated, and deleted only by retention,
-- which holds a permit row inside its own transaction. (Someone with raw
-- write access can drop these triggers; the chain and the signed heads are
-- what detect that.)
CREATE TABLE audit_prune_permits (tenant_uid TEXT NOT NULL PRIMARY KEY);
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'audit events are append-only';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit_prune_permits WHERE tenant_uid = OLD.tenant_uid) THEN
        RAISE EXCEPTION 'audit events are deleted only by retention';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
-- Row-level security, as on every tenant-owned table.
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
