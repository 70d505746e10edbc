// Default flavor (thread_per_core), driver probed by the runtime.
#[rpal_rt::main]
async fn main() {
    let n = std::future::ready(6).await * 7;
    assert_eq!(n, 42);
}
