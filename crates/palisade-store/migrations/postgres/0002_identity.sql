-- Palisade schema v2: identity (sessions, refresh tokens, API keys, MFA,
-- password history, brute-force counters, tenant security settings).
-- Secrets are stored only as hashes (tokens, keys, recovery codes) or
-- envelopes (TOTP secrets).
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE tenant_settings (
    tenant_uid TEXT NOT NULL PRIMARY KEY REFERENCES tenants(uid) ON DELETE CASCADE,
    password_policy TEXT,
    mfa_required BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user ON sessions (tenant_uid, user_uid);
CREATE TABLE refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    session_uid TEXT NOT NULL REFERENCES sessions(uid) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_uid);
CREATE TABLE api_keys (
    uid TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_uid, uid);
CREATE TABLE user_totp (
    user_uid TEXT NOT NULL PRIMARY KEY REFERENCES users(uid) ON DELETE CASCADE,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    confirmed BIGINT NOT NULL,
    last_step BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE recovery_codes (
    code_hash TEXT NOT NULL PRIMARY KEY,
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (tenant_uid, user_uid);
CREATE TABLE password_history (
    tenant_uid TEXT NOT NULL REFERENCES tenants(uid) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (tenant_uid, user_uid, created_at);
-- Failed-attempt counters keyed by keyed hashes (never an email or address
-- in clear): one row per (account, client) pair, and per (user, 'mfa').
CREATE TABLE auth_throttle (
    account_key TEXT NOT NULL,
    client_key TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT NOT NULL,
    PRIMARY KEY (account_key, client_key)
);

-- Row-level security on the tenant-owned identity tables (see 0001).
ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_settings
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sessions
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE user_totp ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_totp FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_totp
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recovery_codes
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
ALTER TABLE password_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON password_history
    USING (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*')
    WITH CHECK (tenant_uid = current_setting('palisade.tenant_uid', true)
           OR current_setting('palisade.tenant_uid', true) = '*');
