#[rpal_rt::main]
async fn main(args: Vec<String>) {
    let _ = args;
}
