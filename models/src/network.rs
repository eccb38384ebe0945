//! network model (implementation in progress).
