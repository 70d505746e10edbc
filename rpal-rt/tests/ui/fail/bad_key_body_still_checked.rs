// With a mistake in the attribute, the function body is still type-checked (so IDEs keep
// working), and no error about `async fn main` hides the real one.
#[rpal_rt::main(flavour = "current_thread")]
async fn main() -> Result<(), String> {
    let n: u32 = "not a number";
    let _ = n;
    Ok(())
}
