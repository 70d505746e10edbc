//! Snapshot tests of `#[rpal_rt::main]` and `#[rpal_rt::test]`: the programs in `ui/pass` must
//! compile (and the runtime they build must run them), the ones in `ui/fail` must fail with the
//! errors in their `.stderr` files. Regenerate the snapshots with `TRYBUILD=overwrite` and read
//! every changed message before committing it.

#[test]
fn macros_ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    if std::env::var_os("RPAL_MACROS_UI_SKIP_PASS").is_none() {
        t.pass("tests/ui/pass/*.rs");
    }
}
