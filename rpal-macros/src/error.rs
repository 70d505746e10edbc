//! Error output that keeps IDEs working.
//!
//! When the attribute or the function is wrong the expansion keeps the function, plus one
//! `compile_error!` per problem, so go-to-definition, completion and the rest of the crate's type
//! checking go on while the user fixes the attribute. No runtime item is named on this path.
//!
//! Deviation from "emit the original item" (style habit 35), and why: an untouched `async fn main`
//! adds rustc's own "`main` function is not allowed to be `async`" (E0752) to every mistake in the
//! arguments, which buries the real error. So an `async fn` is emitted in the shape the successful
//! expansion has, a plain `fn` with the same signature minus `async`, whose body still type-checks
//! the user's code inside an `async` block that is never run. Anything else (a `fn` without `async`,
//! a struct, a function with a `self` argument) is emitted exactly as written.

use proc_macro2::TokenStream;
use quote::quote;
use syn::FnArg;

use crate::expand::body_future;
use crate::item_fn::AsyncFn;

/// The original `item` followed by the `compile_error!`s of `error`.
pub(crate) fn item_with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}

/// For an `async fn`: the function without `async`, its body checked but never run, followed by
/// the `compile_error!`s of `error`. For anything else: [`item_with_error`] on `item`.
pub(crate) fn fn_with_error(item: TokenStream, f: AsyncFn, error: &syn::Error) -> TokenStream {
    let has_receiver = f.sig.inputs.iter().any(|a| matches!(a, FnArg::Receiver(_)));
    if f.sig.asyncness.is_none() || has_receiver {
        return item_with_error(item, error);
    }
    let AsyncFn {
        outer_attrs,
        vis,
        mut sig,
        brace,
        inner_attrs,
        stmts,
    } = f;
    sig.asyncness = None;
    // The arguments move onto a closure around the body, so the body can still use them while
    // the function itself takes none (a `main` with arguments would be one more rustc error).
    let args: Vec<FnArg> = std::mem::take(&mut sig.inputs).into_iter().collect();
    let body = body_future(&sig.output, brace, stmts);
    let mut out = quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            let _ = move |#(#args),*| #body;
            ::core::panic!("this function's attribute has errors, see the compile errors")
        }
    };
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
