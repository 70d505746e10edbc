//! `#[rpal_rt::main]` and `#[rpal_rt::test]` (placeholder: filled by the macros work).
use proc_macro::TokenStream;

/// Runs an `async fn main` on an rpal runtime.
#[proc_macro_attribute]
pub fn main(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// Runs an `async fn` test on an rpal runtime.
#[proc_macro_attribute]
pub fn test(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
