-- Palisade schema v7: a tenant's audit log may be split into lanes,
-- interleaved chains that writers of one tenant append to side by side
-- (lane L of N holds events L+1, L+1+N, …). Each lane has its own signed
-- head row; every existing log is one lane.
ALTER TABLE audit_heads ADD COLUMN lane BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN lanes BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_heads DROP CONSTRAINT audit_heads_pkey;
ALTER TABLE audit_heads ADD PRIMARY KEY (tenant_uid, lane);
