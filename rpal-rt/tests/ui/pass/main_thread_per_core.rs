#[rpal_rt::main(flavor = "thread_per_core")]
async fn main() -> Result<(), String> {
    let mut words = String::from("thread-per");
    // The body is an `async move` block: it owns what it captures.
    let joined = async move {
        words.push_str("-core");
        words
    }
    .await;
    if joined != "thread-per-core" {
        return Err(joined);
    }
    Ok(())
}
