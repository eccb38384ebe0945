//! counter model (implementation in progress).
