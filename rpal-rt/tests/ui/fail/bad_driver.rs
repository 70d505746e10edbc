#[rpal_rt::main(driver = "io_uring")]
async fn main() {}
