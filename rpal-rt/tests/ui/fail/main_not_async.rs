#[rpal_rt::main]
fn main() {}
