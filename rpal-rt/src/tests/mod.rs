//! In-crate tests that need private items, and the loom models (`RUSTFLAGS="--cfg loom"`, run by
//! `.ci/test`; without loom the same bodies run once as plain tests).
mod loom_park;
mod loom_task_state;
