// Test functions: `Result` returns, `?`, kept attributes, every argument. Compiled here as a
// binary (where `#[test]` functions are left out); rpal-rt/tests/macros_ui.rs runs the same
// shapes as real tests.
#[rpal_rt::test]
async fn returns_result() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}

#[rpal_rt::test(flavor = "multi_thread", worker_threads = 2, driver = "epoll")]
#[should_panic(expected = "boom")]
async fn keeps_other_attributes() {
    panic!("boom");
}

#[rpal_rt::test(flavor = "current_thread", crate = "rpal_rt")]
#[ignore = "shows that #[ignore] is kept"]
async fn ignored() {}

fn main() {}
