#[rpal_rt::test(worker_threads = 2)]
async fn uses_the_default_flavor() {}

fn main() {}
