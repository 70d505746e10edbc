// The attribute also works on functions that are not `main`: each call builds a runtime.
#[rpal_rt::main(flavor = "thread_per_core", worker_threads = 2)]
async fn explicit_flavor() -> usize {
    std::future::ready(2).await
}

// `main` defaults to thread_per_core, so worker_threads needs no flavor.
#[rpal_rt::main(worker_threads = 1)]
async fn default_flavor() -> usize {
    1
}

fn main() {
    assert_eq!(explicit_flavor() + default_flavor(), 3);
}
