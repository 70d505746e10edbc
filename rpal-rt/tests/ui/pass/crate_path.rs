// `crate = "..."` names the path the expansion uses for rpal_rt, for crates that re-export it.
mod reexport {
    pub use rpal_rt as rt;
}

#[rpal_rt::main(crate = "rpal_rt")]
async fn plain() -> u8 {
    1
}

#[rpal_rt::main(crate = "::rpal_rt", flavor = "current_thread")]
async fn absolute() -> u8 {
    2
}

#[rpal_rt::main(crate = "reexport::rt", flavor = "current_thread")]
async fn through_a_reexport() -> u8 {
    3
}

fn main() {
    assert_eq!(plain() + absolute() + through_a_reexport(), 6);
}
