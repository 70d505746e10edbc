//! `#[rpal_rt::main]` and `#[rpal_rt::test]`: run an `async fn` on an rpal runtime.
//!
//! Use them through `rpal_rt` (`#[rpal_rt::main]`), not through this crate. The arguments follow
//! tokio's, so porting a program from tokio only changes the import path:
//!
//! | argument | values | default |
//! |---|---|---|
//! | `flavor` | `"current_thread"`, `"thread_per_core"`, `"multi_thread"` (an alias for `"thread_per_core"`) | `main`: `"thread_per_core"`; `test`: `"current_thread"` |
//! | `worker_threads` | an integer > 0; only with `"thread_per_core"` | one worker per core |
//! | `driver` | `"uring"`, `"epoll"` | probed at start; `RPAL_DRIVER=uring\|epoll` overrides |
//! | `crate` | a path to the `rpal_rt` crate, as a string | `"::rpal_rt"` |
//!
//! The examples below are marked `ignore` because this crate cannot depend on `rpal_rt` (which
//! depends on it); programs of the same shapes are compiled and run by `rpal-rt/tests/ui/pass/`.
//!
//! # Examples
//!
//! ```ignore
//! #[rpal_rt::main(flavor = "thread_per_core", worker_threads = 2, driver = "epoll")]
//! async fn main() {
//!     println!("hello from rpal");
//! }
//! ```
//!
//! is the same program as
//!
//! ```ignore
//! fn main() {
//!     let body = async move {
//!         println!("hello from rpal");
//!     };
//!     rpal_rt::runtime::Builder::new_thread_per_core()
//!         .worker_threads(2)
//!         .driver(rpal_rt::runtime::DriverKind::Epoll)
//!         .build()
//!         .expect("failed to build the rpal runtime")
//!         .block_on(body)
//! }
//! ```
//!
//! # Errors
//!
//! Mistakes are compile errors pointing at the token to change: a missing `async` (on the `fn`
//! token), an unknown or repeated argument, a bad value (the message lists the valid ones),
//! `worker_threads` with `"current_thread"`, arguments or generics on the function, a second
//! `#[test]`, or the attribute on something that is not a function. The function is still emitted
//! next to the errors (an `async fn` loses its `async`; its body is type-checked but never run), so
//! the rest of the crate, and the IDE, keep working.

mod config;
mod error;
mod expand;
mod item_fn;

use config::Kind;
use proc_macro::TokenStream;

/// Runs an `async fn` (usually `main`) to completion on a new rpal runtime.
///
/// The function keeps its attributes, visibility and return type (`-> Result<(), E>` works as
/// usual); it must not take arguments or have generic parameters. The runtime defaults to the
/// thread-per-core flavor; see the [crate docs](crate) for the arguments.
///
/// # Examples
///
/// ```ignore
/// #[rpal_rt::main(flavor = "current_thread")]
/// async fn main() -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
///
/// works like
///
/// ```ignore
/// fn main() -> std::io::Result<()> {
///     let body = async move { Ok(()) };
///     rpal_rt::runtime::Builder::new_current_thread()
///         .build()
///         .expect("failed to build the rpal runtime")
///         .block_on(body)
/// }
/// ```
///
/// except that the expansion also gives the `async` block the declared return type, so `?` in the
/// body needs no annotation and a wrong tail expression is reported against that type.
///
/// # Panics
///
/// The generated function panics with "failed to build the rpal runtime" if the runtime cannot be
/// built (for example when `driver = "uring"` is asked for on a kernel without io_uring).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a new rpal runtime; adds `#[test]` itself.
///
/// The runtime defaults to the current-thread flavor (one runtime per test). Tests may return
/// `Result<(), E>`. Writing `#[test]` as well is an error. See the [crate docs](crate) for the
/// arguments.
///
/// # Examples
///
/// ```ignore
/// #[rpal_rt::test(driver = "epoll")]
/// async fn answers() -> Result<(), String> {
///     assert_eq!(6 * 7, 42);
///     Ok(())
/// }
/// ```
///
/// works like
///
/// ```ignore
/// #[test]
/// fn answers() -> Result<(), String> {
///     let body = async move {
///         assert_eq!(6 * 7, 42);
///         Ok(())
///     };
///     rpal_rt::runtime::Builder::new_current_thread()
///         .driver(rpal_rt::runtime::DriverKind::Epoll)
///         .build()
///         .expect("failed to build the rpal runtime")
///         .block_on(body)
/// }
/// ```
///
/// # Panics
///
/// The test panics with "failed to build the rpal runtime" if the runtime cannot be built.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Test, args.into(), item.into()).into()
}
