//! Xen host models (implementation in progress).
