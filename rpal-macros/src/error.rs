//! Error output that keeps IDEs working.
//!
//! When the attribute or the function is wrong the expansion is the original item, untouched, plus
//! one `compile_error!` per problem. The item keeps existing, so go-to-definition, completion and the
//! rest of the crate's type checking go on while the user fixes the attribute.

use proc_macro2::TokenStream;

/// The original `item` followed by the `compile_error!`s of `error`.
pub(crate) fn item_with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}

/// Joins errors so that all of them are reported at once; `None` when there are none.
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, e| {
        all.combine(e);
        all
    })
}
