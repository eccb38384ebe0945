//! migration model (implementation in progress).
