// "multi_thread" is tokio's name, accepted as an alias for "thread_per_core".
#[rpal_rt::main(flavor = "multi_thread")]
async fn main() {
    assert_eq!(std::future::ready("alias").await, "alias");
}
