//! In-crate tests that need private items, and the loom models.
