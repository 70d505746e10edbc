#[rpal_rt::main(driver = "epoll")]
async fn thread_per_core_on_epoll() -> u8 {
    1
}

#[rpal_rt::main(flavor = "current_thread", driver = "epoll")]
async fn current_thread_on_epoll() -> u8 {
    2
}

fn main() {
    assert_eq!(thread_per_core_on_epoll() + current_thread_on_epoll(), 3);
}
