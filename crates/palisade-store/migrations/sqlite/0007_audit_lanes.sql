-- Palisade schema v7: a tenant's audit log may be split into lanes,
-- interleaved chains that writers of one tenant append to side by side
-- (lane L of N holds events L+1, L+1+N, …). Each lane has its own signed
-- head row; every existing log is one lane. SQLite cannot change a primary
-- key in place, so the heads table is rebuilt.
CREATE TABLE audit_heads_v7 (
    tenant_uid TEXT NOT NULL,
    lane INTEGER NOT NULL,
    lanes INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    signature TEXT NOT NULL,
    base_seq BIGINT NOT NULL,
    base_hash TEXT NOT NULL,
    checkpoint_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_uid, lane)
);
INSERT INTO audit_heads_v7 (tenant_uid, lane, lanes, seq, hash, at, signature, base_seq, base_hash, checkpoint_at)
    SELECT tenant_uid, 0, 1, seq, hash, at, signature, base_seq, base_hash, checkpoint_at FROM audit_heads;
DROP TABLE audit_heads;
ALTER TABLE audit_heads_v7 RENAME TO audit_heads;
