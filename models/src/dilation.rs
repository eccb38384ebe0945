//! dilation model (implementation in progress).
