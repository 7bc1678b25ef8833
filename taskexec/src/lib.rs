//! The TaskExecutor.
