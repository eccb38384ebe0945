//! server model (implementation in progress).
