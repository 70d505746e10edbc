#![deny(warnings)]
// Attributes, visibility, inner attributes and return types survive; a body that never returns
// (a server loop) and an `impl Trait` return need no special handling.

pub mod app {
    /// Documented, public, and with an attribute of its own.
    #[rpal_rt::main(flavor = "current_thread")]
    #[inline(never)]
    pub async fn run() -> impl std::fmt::Display {
        #![allow(clippy::let_and_return)]
        let answer = 42;
        answer
    }

    #[rpal_rt::main(flavor = "current_thread")]
    pub(crate) async fn serve_until_done() {
        let mut served = 0;
        loop {
            served += std::future::ready(1).await;
            if served == 3 {
                return;
            }
        }
    }
}

// A body whose tail diverges: no "unreachable" warning from the expansion.
#[rpal_rt::main(flavor = "current_thread")]
async fn exit_from_the_runtime() {
    std::process::exit(0)
}

fn main() {
    assert_eq!(app::run().to_string(), "42");
    app::serve_until_done();
    exit_from_the_runtime();
}
