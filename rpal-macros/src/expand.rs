//! Code generation: turns `async fn f() -> T { body }` into a plain `fn f() -> T` that builds a
//! runtime and blocks on the body.
//!
//! The body's tokens are moved into an `async move` block unchanged, so their spans (and every error
//! and lint on them) stay on the user's code. The output type is written on a `let` around the body
//! so that `?` in the body knows its error type and a mismatched tail expression is reported on the
//! tail, against the return type the user wrote. Names the expansion introduces use
//! `Span::mixed_site()`, so the body can neither see nor shadow them.
//!
//! Runtime items are only named on success: when anything is wrong the output is the original item
//! plus `compile_error!` (see [`crate::error`]).

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
    let rt_var = quote_spanned!(output=> __rpal_runtime);

    quote! {
        #(#outer_attrs)*
        #test_attr
        #vis #sig {
            #(#inner_attrs)*
            let #body_var = #body;
            #[allow(clippy::expect_used)]
            let #rt_var = #krate::runtime::Builder::#new_builder()
                #worker_threads
                #driver
                .build()
                .expect("failed to build the rpal runtime");
            #rt_var.block_on(#body_var)
        }
    }
}

/// `async move { let output: T = { stmts }; output }`: the body as a future whose output type is
/// the function's return type `T` (just `async move { stmts }` for `-> impl Trait`, which a `let`
/// cannot name).
pub(crate) fn body_future(
    output: &ReturnType,
    brace: token::Brace,
    stmts: TokenStream,
) -> TokenStream {
    let mut block = TokenStream::new();
    brace.surround(&mut block, |tokens| tokens.extend(stmts));
    let ty = match output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => match &**ty {
            Type::ImplTrait(_) => return quote!(async move #block),
            ty => quote!(#ty),
        },
    };
    let out = quote_spanned!(Span::mixed_site()=> __rpal_output);
    quote! {
        async move {
            let #out: #ty = #block;
            #out
        }
    }
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
            out.contains("let __rpal_output : () = { run () . await ; }"),
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
            out.contains("let __rpal_output : Result < () , String > = { Ok (()) }"),
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
    fn impl_trait_outputs_get_no_hint() {
        let out = expanded(
            Kind::Main,
            quote!(),
            quote!(
                async fn f() -> impl Sized {
                    1
                }
            ),
        );
        assert!(
            out.contains("let __rpal_body = async move { 1 } ;"),
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
        assert!(out.starts_with("fn main () { let _ = move | | async move { let __rpal_output : () = { f () . await } ;"), "{out}");
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
            out.starts_with("fn main () -> u8 { let _ = move | a : u8 , b : & str | async move"),
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
