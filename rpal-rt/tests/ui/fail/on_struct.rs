#[rpal_rt::main]
struct Config {
    threads: usize,
}

fn main() {
    let _ = Config { threads: 1 };
}
