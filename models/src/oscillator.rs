//! oscillator model (implementation in progress).
