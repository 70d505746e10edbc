// Errors in the body point at the user's code, not at the attribute: the wrong tail expression
// is reported against the return type that was written.
#[rpal_rt::main(flavor = "current_thread")]
async fn main() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "42".parse()?;
    n
}
