#[rpal_rt::main(flavor = "current_thread", flavor = "thread_per_core")]
async fn main() {}
