//! Parsing and checking of the function the attribute sits on.
//!
//! The body is kept as raw tokens ([`AsyncFn::stmts`]) instead of being parsed into statements:
//! a syntax error inside the body then stays the compiler's to report, on the user's code, and the
//! tokens keep their spans through the expansion.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{braced, token, Attribute, Signature, Visibility};

use crate::config::Kind;
use crate::error::combine;

/// An `async fn` item with its body left unparsed.
pub(crate) struct AsyncFn {
    pub(crate) outer_attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) brace: token::Brace,
    /// `#![...]` at the start of the body; they stay on the generated function's body.
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) stmts: TokenStream,
}

impl Parse for AsyncFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<AsyncFn> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts: TokenStream = content.parse()?;
        Ok(AsyncFn {
            outer_attrs,
            vis,
            sig,
            brace,
            inner_attrs,
            stmts,
        })
    }
}

/// Parses `item` as a function, with an error naming the attribute when it is something else.
pub(crate) fn parse(kind: Kind, item: TokenStream) -> syn::Result<AsyncFn> {
    syn::parse2::<AsyncFn>(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "`{}` can only be applied to an `async fn` ({e})",
                kind.attr_name()
            ),
        )
    })
}

/// Checks what the runtime needs from the function; returns every problem found, combined.
pub(crate) fn check(kind: Kind, f: &AsyncFn) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    if f.sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            f.sig.fn_token.span,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if !f.sig.inputs.is_empty() {
        let what = match kind {
            Kind::Main => "the `main` function cannot accept arguments".to_string(),
            Kind::Test => format!(
                "functions marked `{}` cannot take arguments",
                kind.attr_name()
            ),
        };
        errors.push(syn::Error::new_spanned(&f.sig.inputs, what));
    }
    if let Some(variadic) = &f.sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "variadic arguments are not supported here",
        ));
    }
    let generics = &f.sig.generics;
    let generics_msg = format!(
        "functions marked `{}` cannot have generic parameters",
        kind.attr_name()
    );
    if !generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(generics, generics_msg));
    } else if let Some(where_clause) = &generics.where_clause {
        errors.push(syn::Error::new_spanned(where_clause, generics_msg));
    }
    if kind == Kind::Test {
        if let Some(attr) = f.outer_attrs.iter().find(|a| is_test_attribute(a)) {
            errors.push(syn::Error::new_spanned(
                attr,
                "second test attribute is supplied; `#[rpal_rt::test]` already adds `#[test]`, \
                 remove this one",
            ));
        }
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[::std::prelude::rust_2021::test]`, ...
fn is_test_attribute(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segments.as_slice() {
        [only] => only == "test",
        [root, prelude, _edition, last] => {
            (root == "core" || root == "std") && prelude == "prelude" && last == "test"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn problems(kind: Kind, item: TokenStream) -> Vec<String> {
        let f = parse(kind, item).expect("parses");
        match check(kind, &f) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_plain_async_fn_is_accepted() {
        assert!(problems(
            Kind::Main,
            quote!(
                async fn main() {
                    let _ = 1;
                }
            )
        )
        .is_empty());
        let item = quote!(
            #[allow(unused)]
            pub(crate) async fn t() -> Result<(), String> {
                #![allow(dead_code)]
                Ok(())
            }
        );
        let f = parse(Kind::Test, item).expect("parses");
        assert_eq!(f.outer_attrs.len(), 1);
        assert_eq!(f.inner_attrs.len(), 1);
        assert_eq!(f.stmts.to_string(), "Ok (())");
        assert!(check(Kind::Test, &f).is_ok());
    }

    #[test]
    fn missing_async_args_and_generics_are_all_reported() {
        let p = problems(
            Kind::Main,
            quote!(
                fn main<T>(x: T) {}
            ),
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("`async` keyword is missing"));
        assert!(p[1].contains("the `main` function cannot accept arguments"));
        assert!(p[2].contains("cannot have generic parameters"));
        let p = problems(
            Kind::Test,
            quote!(
                async fn t(x: u8) {}
            ),
        );
        assert!(p[0].contains("functions marked `#[rpal_rt::test]` cannot take arguments"));
    }

    #[test]
    fn a_second_test_attribute_is_rejected() {
        for attr in [
            quote!(#[test]),
            quote!(#[::core::prelude::v1::test]),
            quote!(#[std::prelude::rust_2021::test]),
        ] {
            let p = problems(Kind::Test, quote!(#attr async fn t() {}));
            assert!(
                p[0].starts_with("second test attribute is supplied"),
                "{p:?}"
            );
        }
        // `#[test]` on a main is no business of ours.
        assert!(problems(
            Kind::Main,
            quote!(
                #[test]
                async fn t() {}
            )
        )
        .is_empty());
        assert!(problems(
            Kind::Test,
            quote!(
                #[my::test]
                async fn t() {}
            )
        )
        .is_empty());
    }

    #[test]
    fn non_functions_are_rejected_with_the_attribute_named() {
        let Err(e) = parse(
            Kind::Main,
            quote!(
                struct S;
            ),
        ) else {
            panic!("parsed a struct as a function");
        };
        assert!(e
            .to_string()
            .starts_with("`#[rpal_rt::main]` can only be applied to an `async fn`"));
    }
}
