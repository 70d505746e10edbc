// `?` in the body gets its error type from the declared return type.
#[rpal_rt::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let n: u32 = "42".parse().map_err(std::io::Error::other)?;
    assert_eq!(std::future::ready(n).await, 42);
    Ok(())
}
