//! replication model (implementation in progress).
