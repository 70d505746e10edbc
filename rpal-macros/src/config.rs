//! Parsing of the attribute arguments (`flavor = "..."`, `worker_threads = N`, `driver = "..."`,
//! `crate = "..."`) into a [`Config`].
//!
//! Parsing happens in two steps. [`Configuration`] collects each key as an `Option<(value, Span)>`
//! through setters that reject duplicates and bad values; [`Configuration::build`] then checks the
//! keys against each other (e.g. `worker_threads` with `current_thread`) and fills in the defaults of
//! the macro ([`Kind`]). Every error carries the span of the token the user has to change, and all
//! errors found are reported together.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Meta, Token};

use crate::error::combine;

/// Which attribute is being expanded; decides the defaults and the wording of errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[rpal_rt::main]`: default flavor `thread_per_core`.
    Main,
    /// `#[rpal_rt::test]`: default flavor `current_thread`, adds `#[test]`.
    Test,
}

impl Kind {
    /// The attribute as the user writes it, for error messages.
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Main => "#[rpal_rt::main]",
            Kind::Test => "#[rpal_rt::test]",
        }
    }

    fn default_flavor(self) -> Flavor {
        match self {
            Kind::Main => Flavor::ThreadPerCore,
            Kind::Test => Flavor::CurrentThread,
        }
    }
}

/// The runtime flavor, mirroring `rpal_rt::runtime::Flavor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `"current_thread"`.
    CurrentThread,
    /// `"thread_per_core"`, or its alias `"multi_thread"` (kept so tokio code ports unchanged).
    ThreadPerCore,
}

impl Flavor {
    fn from_str(s: &str) -> Option<Flavor> {
        match s {
            "current_thread" => Some(Flavor::CurrentThread),
            "thread_per_core" | "multi_thread" => Some(Flavor::ThreadPerCore),
            _ => None,
        }
    }
}

/// The reactor driver, mirroring `rpal_rt::runtime::DriverKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Driver {
    /// `"uring"`.
    Uring,
    /// `"epoll"`.
    Epoll,
}

impl Driver {
    fn from_str(s: &str) -> Option<Driver> {
        match s {
            "uring" => Some(Driver::Uring),
            "epoll" => Some(Driver::Epoll),
            _ => None,
        }
    }
}

/// The keys the attributes accept, in the order error messages list them.
const KEYS: &str = "`flavor`, `worker_threads`, `driver` and `crate`";
const FLAVORS: &str =
    "\"current_thread\", \"thread_per_core\" or \"multi_thread\" (an alias for \"thread_per_core\")";
const DRIVERS: &str = "\"uring\" or \"epoll\"";

/// The checked configuration the expansion works from.
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    /// Set only with [`Flavor::ThreadPerCore`].
    pub(crate) worker_threads: Option<(usize, Span)>,
    /// `None`: the runtime probes (and honours `RPAL_DRIVER`).
    pub(crate) driver: Option<(Driver, Span)>,
    /// Path to the `rpal_rt` crate; `None` means `::rpal_rt`.
    pub(crate) crate_path: Option<syn::Path>,
}

/// The arguments as written, before they are checked against each other.
pub(crate) struct Configuration {
    kind: Kind,
    flavor: Option<(Flavor, Span)>,
    worker_threads: Option<(usize, Span)>,
    driver: Option<(Driver, Span)>,
    crate_path: Option<(syn::Path, Span)>,
}

fn duplicate(key: &str, span: Span) -> syn::Error {
    syn::Error::new(span, format!("`{key}` is set more than once"))
}

/// Checks a key is not set yet, then stores it.
fn set_once<T>(slot: &mut Option<(T, Span)>, key: &str, value: T, span: Span) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(key, span));
    }
    *slot = Some((value, span));
    Ok(())
}

impl Configuration {
    pub(crate) fn new(kind: Kind) -> Configuration {
        Configuration {
            kind,
            flavor: None,
            worker_threads: None,
            driver: None,
            crate_path: None,
        }
    }

    /// `flavor = "current_thread" | "thread_per_core" | "multi_thread"`.
    pub(crate) fn set_flavor(&mut self, key_span: Span, value: &Expr) -> syn::Result<()> {
        let lit = expect_str("flavor", "current_thread", value)?;
        let flavor = Flavor::from_str(&lit.value()).ok_or_else(|| {
            syn::Error::new(
                lit.span(),
                format!("unknown flavor \"{}\"; expected {FLAVORS}", lit.value()),
            )
        })?;
        set_once(&mut self.flavor, "flavor", flavor, key_span)
    }

    /// `worker_threads = N`, with `N > 0`.
    pub(crate) fn set_worker_threads(&mut self, key_span: Span, value: &Expr) -> syn::Result<()> {
        let n = match value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => parse_worker_threads(lit)?,
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "`worker_threads` expects an integer literal, e.g. `worker_threads = 4`",
                ))
            }
        };
        set_once(&mut self.worker_threads, "worker_threads", n, key_span)
    }

    /// `driver = "uring" | "epoll"`.
    pub(crate) fn set_driver(&mut self, key_span: Span, value: &Expr) -> syn::Result<()> {
        let lit = expect_str("driver", "epoll", value)?;
        let driver = Driver::from_str(&lit.value()).ok_or_else(|| {
            syn::Error::new(
                lit.span(),
                format!(
                    "unknown driver \"{}\"; expected {DRIVERS} (leave `driver` out to let the \
                     runtime probe the kernel and read RPAL_DRIVER)",
                    lit.value()
                ),
            )
        })?;
        set_once(&mut self.driver, "driver", driver, key_span)
    }

    /// `crate = "path::to::rpal_rt"`.
    pub(crate) fn set_crate(&mut self, key_span: Span, value: &Expr) -> syn::Result<()> {
        let lit = expect_str("crate", "rpal_rt", value)?;
        // `LitStr::parse` gives the path's tokens the span of the literal, so a wrong path is
        // reported on the string the user wrote.
        let path = lit.parse_with(syn::Path::parse_mod_style).map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "`crate` expects a path to the rpal_rt crate, such as \"rpal_rt\" or \
                     \"::my_crate::rt\", found \"{}\"",
                    lit.value()
                ),
            )
        })?;
        set_once(&mut self.crate_path, "crate", path, key_span)
    }

    /// Checks the keys against each other and fills in the defaults.
    pub(crate) fn build(self) -> syn::Result<Config> {
        let flavor = self.flavor.map_or(self.kind.default_flavor(), |(f, _)| f);
        if let (Flavor::CurrentThread, Some((_, span))) = (flavor, self.worker_threads) {
            let msg = if self.flavor.is_some() {
                "`worker_threads` cannot be used with `flavor = \"current_thread\"`, which runs \
                 everything on the calling thread; remove it or set `flavor = \"thread_per_core\"`"
                    .to_string()
            } else {
                format!(
                    "`worker_threads` cannot be used with the `current_thread` flavor, the default \
                     of `{}`; remove it or set `flavor = \"thread_per_core\"`",
                    self.kind.attr_name()
                )
            };
            return Err(syn::Error::new(span, msg));
        }
        Ok(Config {
            flavor,
            worker_threads: self.worker_threads,
            driver: self.driver,
            crate_path: self.crate_path.map(|(p, _)| p),
        })
    }
}

fn parse_worker_threads(lit: &LitInt) -> syn::Result<usize> {
    let n: usize = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("`worker_threads` must be a positive integer that fits a usize, found `{lit}`"),
        )
    })?;
    if n == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "`worker_threads` must be greater than 0",
        ));
    }
    Ok(n)
}

/// The value of `key = "..."`, or an error showing the expected form with `example`.
fn expect_str<'a>(key: &str, example: &str, value: &'a Expr) -> syn::Result<&'a LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` expects a string literal, e.g. `{key} = \"{example}\"`"),
        )),
    }
}

/// Parses the tokens inside `#[rpal_rt::main(...)]` into a checked [`Config`].
///
/// Every argument is looked at even after an error, and all errors are returned combined.
pub(crate) fn parse(kind: Kind, args: TokenStream) -> syn::Result<Config> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut config = Configuration::new(kind);
    let errors = metas
        .iter()
        .filter_map(|meta| apply(&mut config, meta).err());
    match combine(errors.collect::<Vec<_>>()) {
        Some(e) => Err(e),
        None => config.build(),
    }
}

fn apply(config: &mut Configuration, meta: &Meta) -> syn::Result<()> {
    let path = meta.path();
    let key = path.get_ident().map(|i| i.to_string()).unwrap_or_default();
    let key_span = path.span();
    let value = match meta {
        Meta::NameValue(nv) => &nv.value,
        _ if !is_known_key(&key) => return Err(unknown_key(&key, path)),
        _ => {
            return Err(syn::Error::new(
                meta.span(),
                format!("`{key}` needs a value, e.g. `{}`", example_for(&key)),
            ))
        }
    };
    match key.as_str() {
        "flavor" => config.set_flavor(key_span, value),
        "worker_threads" => config.set_worker_threads(key_span, value),
        "driver" => config.set_driver(key_span, value),
        "crate" => config.set_crate(key_span, value),
        _ => Err(unknown_key(&key, path)),
    }
}

fn is_known_key(key: &str) -> bool {
    matches!(key, "flavor" | "worker_threads" | "driver" | "crate")
}

fn example_for(key: &str) -> &'static str {
    match key {
        "flavor" => "flavor = \"current_thread\"",
        "worker_threads" => "worker_threads = 4",
        "driver" => "driver = \"epoll\"",
        _ => "crate = \"rpal_rt\"",
    }
}

fn unknown_key(key: &str, path: &syn::Path) -> syn::Error {
    let shown = if key.is_empty() {
        quote::quote!(#path).to_string()
    } else {
        key.to_string()
    };
    let mut msg = format!("unknown argument `{shown}`; valid arguments are {KEYS}");
    // A bare value where a key was expected, as in `#[rpal_rt::main(current_thread)]`.
    if Flavor::from_str(key).is_some() {
        msg.push_str(&format!("; did you mean `flavor = \"{key}\"`?"));
    } else if Driver::from_str(key).is_some() {
        msg.push_str(&format!("; did you mean `driver = \"{key}\"`?"));
    }
    syn::Error::new(path.span(), msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok(kind: Kind, args: TokenStream) -> Config {
        match parse(kind, args) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(kind: Kind, args: TokenStream) -> String {
        match parse(kind, args) {
            Ok(c) => panic!("expected an error, got flavor {:?}", c.flavor),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn defaults_depend_on_the_macro() {
        let main = ok(Kind::Main, quote!());
        assert_eq!(main.flavor, Flavor::ThreadPerCore);
        assert!(
            main.worker_threads.is_none() && main.driver.is_none() && main.crate_path.is_none()
        );
        assert_eq!(ok(Kind::Test, quote!()).flavor, Flavor::CurrentThread);
    }

    #[test]
    fn flavors_and_the_multi_thread_alias() {
        let c = ok(Kind::Main, quote!(flavor = "current_thread"));
        assert_eq!(c.flavor, Flavor::CurrentThread);
        let c = ok(Kind::Test, quote!(flavor = "thread_per_core"));
        assert_eq!(c.flavor, Flavor::ThreadPerCore);
        let c = ok(Kind::Test, quote!(flavor = "multi_thread",));
        assert_eq!(c.flavor, Flavor::ThreadPerCore);
    }

    #[test]
    fn all_keys_together() {
        let c = ok(
            Kind::Main,
            quote!(
                flavor = "thread_per_core",
                worker_threads = 3,
                driver = "epoll",
                crate = "::my::rt"
            ),
        );
        assert_eq!(c.worker_threads.map(|(n, _)| n), Some(3));
        assert_eq!(c.driver.map(|(d, _)| d), Some(Driver::Epoll));
        let path = c.crate_path.expect("crate path");
        assert_eq!(quote!(#path).to_string(), ":: my :: rt");
        let c = ok(Kind::Main, quote!(driver = "uring"));
        assert_eq!(c.driver.map(|(d, _)| d), Some(Driver::Uring));
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let e = err(Kind::Main, quote!(threads = 4));
        assert!(e.contains("unknown argument `threads`"), "{e}");
        assert!(
            e.contains("`flavor`, `worker_threads`, `driver` and `crate`"),
            "{e}"
        );
        let e = err(Kind::Main, quote!(a::b = 4));
        assert!(e.contains("unknown argument `a :: b`"), "{e}");
        let e = err(Kind::Main, quote!(current_thread));
        assert!(
            e.contains("did you mean `flavor = \"current_thread\"`?"),
            "{e}"
        );
        let e = err(Kind::Main, quote!(epoll));
        assert!(e.contains("did you mean `driver = \"epoll\"`?"), "{e}");
    }

    #[test]
    fn duplicates_are_rejected() {
        for args in [
            quote!(flavor = "current_thread", flavor = "current_thread"),
            quote!(worker_threads = 1, worker_threads = 2),
            quote!(driver = "uring", driver = "epoll"),
            quote!(crate = "a", crate = "b"),
        ] {
            let e = err(Kind::Main, args);
            assert!(e.contains("is set more than once"), "{e}");
        }
    }

    #[test]
    fn bad_values_list_the_valid_ones() {
        let e = err(Kind::Main, quote!(flavor = "multi"));
        assert!(
            e.contains("unknown flavor \"multi\"; expected \"current_thread\""),
            "{e}"
        );
        let e = err(Kind::Main, quote!(driver = "io_uring"));
        assert!(
            e.contains("unknown driver \"io_uring\"; expected \"uring\" or \"epoll\""),
            "{e}"
        );
        let e = err(Kind::Main, quote!(flavor = current_thread));
        assert!(e.contains("`flavor` expects a string literal"), "{e}");
        let e = err(Kind::Main, quote!(crate = "not a path"));
        assert!(e.contains("`crate` expects a path"), "{e}");
        let e = err(Kind::Main, quote!(flavor));
        assert!(e.contains("`flavor` needs a value"), "{e}");
    }

    #[test]
    fn worker_threads_must_be_a_positive_integer() {
        assert!(err(Kind::Main, quote!(worker_threads = 0)).contains("must be greater than 0"));
        assert!(
            err(Kind::Main, quote!(worker_threads = "4")).contains("expects an integer literal")
        );
        assert!(
            err(Kind::Main, quote!(worker_threads = 1.5)).contains("expects an integer literal")
        );
        let e = err(Kind::Main, quote!(worker_threads = -1));
        assert!(e.contains("must be a positive integer"), "{e}");
        let e = err(Kind::Main, quote!(worker_threads = 99999999999999999999999));
        assert!(
            e.contains("must be a positive integer that fits a usize"),
            "{e}"
        );
        assert_eq!(
            ok(Kind::Main, quote!(worker_threads = 2usize))
                .worker_threads
                .map(|w| w.0),
            Some(2)
        );
    }

    #[test]
    fn worker_threads_needs_thread_per_core() {
        let e = err(
            Kind::Main,
            quote!(flavor = "current_thread", worker_threads = 2),
        );
        assert!(
            e.contains("cannot be used with `flavor = \"current_thread\"`"),
            "{e}"
        );
        // The test macro defaults to current_thread: the message says so.
        let e = err(Kind::Test, quote!(worker_threads = 2));
        assert!(e.contains("the default of `#[rpal_rt::test]`"), "{e}");
        let c = ok(
            Kind::Test,
            quote!(flavor = "multi_thread", worker_threads = 2),
        );
        assert_eq!(c.worker_threads.map(|w| w.0), Some(2));
    }

    #[test]
    fn all_errors_are_reported_together() {
        let e = err(Kind::Main, quote!(flavor = "x", driver = "y", nope = 1));
        assert_eq!(e.lines().count(), 3, "{e}");
    }

    #[test]
    fn syntax_errors_come_from_syn() {
        assert!(parse(Kind::Main, quote!(flavor = )).is_err());
        assert!(parse(Kind::Main, quote!(flavor "x")).is_err());
    }
}
