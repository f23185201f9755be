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
