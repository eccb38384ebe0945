//! Streaming statistics (implementation in progress).
