//! Code generation: turns `async fn f() -> T { body }` into a plain `fn f() -> T` that builds a
//! runtime and blocks on the body.
//!
//! The body's statements are moved into an `async move` block unchanged (with the user's braces), so
//! their spans, and every error and lint on them, stay on the user's code. A `return` that never runs
//! gives the block the function's return type (see [`body_future`]) so that `?` in the body knows its
//! error type. Local variables the expansion introduces use `Span::mixed_site()`, so the body can
//! neither see nor shadow them.
//!
//! Runtime items are only named on success: when anything is wrong the output is the function (or
//! item) plus `compile_error!`, built by [`crate::error`].

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{token, ReturnType, Type};

use crate::config::{self, Config, Driver, Flavor, Kind};
use crate::error::{combine, fn_with_error, item_with_error};
use crate::item_fn::{self, AsyncFn};

/// Expands `#[rpal_rt::main(args)]` / `#[rpal_rt::test(args)]` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let config = config::parse(kind, args);
    let parsed = item_fn::parse(kind, item.clone());
    let checked = parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|f| item_fn::check(kind, f));
    // Problems with the function first: they are the more fundamental ones.
    let errors = combine(
        checked
            .err()
            .into_iter()
            .chain(config.as_ref().err().cloned()),
    );
    match (config, parsed, errors) {
        (Ok(config), Ok(f), None) => generate(kind, &config, f),
        (_, Ok(f), Some(e)) => fn_with_error(item, f, &e),
        (_, Err(_), Some(e)) => item_with_error(item, &e),
        // Unreachable: a parse error of the item is also carried by `checked`. Emitting the item
        // unchanged is still correct.
        (_, _, None) => item,
    }
}

fn generate(kind: Kind, config: &Config, f: AsyncFn) -> TokenStream {
    let AsyncFn {
        outer_attrs,
        vis,
        mut sig,
        brace,
        inner_attrs,
        stmts,
    } = f;
    sig.asyncness = None;

    let krate = match &config.crate_path {
        Some(path) => quote!(#path),
        None => quote!(::rpal_rt),
    };
    let new_builder = match config.flavor {
        Flavor::CurrentThread => quote!(new_current_thread),
        Flavor::ThreadPerCore => quote!(new_thread_per_core),
    };
    let worker_threads = config
        .worker_threads
        .map(|(n, span)| quote_spanned!(span=> .worker_threads(#n)));
    let driver = config.driver.map(|(d, span)| {
        let variant = match d {
            Driver::Uring => quote_spanned!(span=> Uring),
            Driver::Epoll => quote_spanned!(span=> Epoll),
        };
        quote_spanned!(span=> .driver(#krate::runtime::DriverKind::#variant))
    });

    let body = body_future(&sig.output, brace, stmts);
    let output = Span::mixed_site();
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    let body_var = quote_spanned!(output=> __rpal_body);

    quote! {
        #(#outer_attrs)*
        #test_attr
        #vis #sig {
            #(#inner_attrs)*
            let #body_var = #body;
            // One expression, so `block_on` may take `&self`, `&mut self` or `self`.
            #krate::runtime::Builder::#new_builder()
                #worker_threads
                #driver
                .build()
                .expect("failed to build the rpal runtime")
                .block_on(#body_var)
        }
    }
}

/// The body as a future whose output type is the function's return type `T`:
///
/// ```text
/// {
///     fn __rpal_output_type<T>() -> T { unreachable!() }
///     async move {
///         if false { return __rpal_output_type::<T>(); } else { stmts }
///     }
/// }
/// ```
///
/// The `return` that never runs fixes the async block's output type before the body is checked, so
/// `?` in the body knows its error type and a wrong tail expression is reported on the tail as
/// "expected `T`" (see `tests/ui/fail/body_type_mismatch.rs` in rpal-rt). The body is the `else`
/// block, with the user's braces, so:
/// * nothing follows it: a body that never returns (a server loop, `process::exit`) gets no
///   "unreachable expression" warning, as a `let output: T = { stmts }; output` would;
/// * nothing precedes it in its own block: items at the top of the body do not trip
///   `clippy::items_after_statements`;
/// * a missing tail expression is reported on the user's braces.
///
/// Without a nameable `T` (`-> impl Trait` anywhere in it, or `-> !`) the output is inferred.
pub(crate) fn body_future(
    output: &ReturnType,
    brace: token::Brace,
    stmts: TokenStream,
) -> TokenStream {
    let ty = match output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) if nameable(ty) => Some(quote!(#ty)),
        ReturnType::Type(..) => None,
    };
    let helper = quote!(__rpal_output_type);
    let mut block = TokenStream::new();
    brace.surround(&mut block, |tokens| tokens.extend(stmts));
    match ty {
        Some(ty) => quote! {
            {
                fn #helper<T>() -> T {
                    ::core::unreachable!()
                }
                async move {
                    if false {
                        return #helper::<#ty>();
                    } else #block
                }
            }
        },
        None => quote!(async move #block),
    }
}

/// Whether `ty` can be written as a generic argument: not `!`, and no `impl Trait` inside.
fn nameable(ty: &Type) -> bool {
    fn has_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => has_impl(g.stream()),
            _ => false,
        })
    }
    !matches!(ty, Type::Never(_)) && !has_impl(quote!(#ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).to_string()
    }

    #[test]
    fn main_defaults_to_thread_per_core_and_probing() {
        let out = expanded(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() {
                    run().await;
                }
            ),
        );
        assert!(out.contains("fn main ()"), "{out}");
        assert!(!out.contains("async fn"), "{out}");
        assert!(
            out.contains(":: rpal_rt :: runtime :: Builder :: new_thread_per_core ()"),
            "{out}"
        );
        assert!(
            !out.contains("worker_threads") && !out.contains("driver"),
            "{out}"
        );
        assert!(
            out.contains("async move { if false { return __rpal_output_type :: < () > () ; } else { run () . await ; } }"),
            "{out}"
        );
        assert!(
            out.contains(". expect (\"failed to build the rpal runtime\")"),
            "{out}"
        );
        assert!(!out.contains("test"), "{out}");
    }

    #[test]
    fn test_adds_the_test_attribute_and_keeps_the_signature() {
        let out = expanded(
            Kind::Test,
            quote!(driver = "epoll", crate = "my_rt"),
            quote!(
                #[ignore]
                pub async fn t() -> Result<(), String> {
                    #![allow(unused)]
                    Ok(())
                }
            ),
        );
        assert!(out.starts_with("# [ignore] # [:: core :: prelude :: v1 :: test] pub fn t () -> Result < () , String > { # ! [allow (unused)]"), "{out}");
        assert!(out.contains("my_rt :: runtime :: Builder :: new_current_thread () . driver (my_rt :: runtime :: DriverKind :: Epoll) . build ()"), "{out}");
        assert!(
            out.contains("async move { if false { return __rpal_output_type :: < Result < () , String > > () ; } else { Ok (()) } }"),
            "{out}"
        );
    }

    #[test]
    fn worker_threads_and_uring_are_passed_on() {
        let out = expanded(
            Kind::Main,
            quote!(
                flavor = "multi_thread",
                worker_threads = 3,
                driver = "uring"
            ),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.contains("new_thread_per_core () . worker_threads (3usize) . driver (:: rpal_rt :: runtime :: DriverKind :: Uring)"), "{out}");
    }

    #[test]
    fn outputs_that_cannot_be_named_get_no_hint() {
        for ret in [
            quote!(impl Sized),
            quote!(Result<impl Sized, ()>),
            quote!(!),
        ] {
            let out = expanded(Kind::Main, quote!(), quote!(async fn f() -> #ret { 1 }));
            assert!(
                out.contains("let __rpal_body = async move { 1 } ;"),
                "{out}"
            );
        }
        let out = expanded(
            Kind::Main,
            quote!(),
            quote!(
                async fn f() -> Box<dyn Fn()> {
                    1
                }
            ),
        );
        assert!(
            out.contains("__rpal_output_type :: < Box < dyn Fn () > >"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_the_function_and_name_no_runtime_item() {
        // An async fn stays, minus `async` (no E0752 on `main`), with its body checked, not run.
        let out = expanded(
            Kind::Main,
            quote!(flavor = "nope"),
            quote!(
                async fn main() {
                    f().await
                }
            ),
        );
        assert!(
            out.starts_with("fn main () { let _ = move | | { fn __rpal_output_type"),
            "{out}"
        );
        assert!(
            out.contains(":: core :: compile_error ! { \"unknown flavor"),
            "{out}"
        );
        assert!(
            !out.contains("runtime") && !out.contains("rpal_rt"),
            "{out}"
        );

        // Arguments move onto the closure so the body still sees them.
        let out = expanded(
            Kind::Main,
            quote!(),
            quote!(
                async fn main(a: u8, b: &str) -> u8 {
                    a
                }
            ),
        );
        assert!(
            out.starts_with("fn main () -> u8 { let _ = move | a : u8 , b : & str | {"),
            "{out}"
        );
        assert!(out.contains("cannot accept arguments"), "{out}");

        // A function without `async`, or with `self`, is left exactly as written.
        let out = expanded(
            Kind::Main,
            quote!(driver = "x"),
            quote!(
                fn main(a: u8) {}
            ),
        );
        assert!(out.starts_with("fn main (a : u8) { }"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        let out = expanded(
            Kind::Test,
            quote!(),
            quote!(
                async fn t(&self) {}
            ),
        );
        assert!(out.starts_with("async fn t (& self) { }"), "{out}");

        let out = expanded(
            Kind::Test,
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.starts_with("struct S ;"), "{out}");
        assert!(
            out.contains("can only be applied to an `async fn`"),
            "{out}"
        );
    }
}
