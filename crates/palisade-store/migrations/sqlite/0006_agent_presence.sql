-- Palisade schema v6: since when a cluster's agent counts as connected
-- (NULL: not connected), so that each connection and each disconnection is
-- recorded once in the tenant's audit log, also with several replicas.
ALTER TABLE bus_clusters ADD COLUMN connected_since BIGINT;
