#[rpal_rt::main(current_thread)]
async fn main() {}
