//! Task-local values: [`crate::task_local!`] declares a [`LocalKey`]; [`LocalKey::scope`] sets
//! its value for the length of one future.
//!
//! # How it works
//! Each key is a thread-local slot (`RefCell<Option<T>>`). A [`TaskLocalFuture`] owns the value
//! between polls; for each poll of its inner future it swaps the value into the slot and swaps it
//! back out afterwards (also when the poll unwinds). So the value is visible exactly while code
//! of that future runs, whichever worker runs it, and two tasks interleaved on one worker never
//! see each other's values. The inner future is also dropped with the value in scope.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: Type;` items, each a [`LocalKey`].
///
/// # Examples
/// ```
/// rpal_rt::task_local! {
///     static REQUEST_ID: u64;
///     pub static USER: String;
/// }
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(REQUEST_ID.scope(7, async {
///     assert_eq!(REQUEST_ID.get(), 7);
///     USER.scope("ada".to_owned(), async {
///         USER.with(|u| assert_eq!(u, "ada"));
///     })
///     .await;
///     assert!(USER.try_with(|_| ()).is_err());
/// }));
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
    };
}

/// Implementation detail of [`task_local!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static SLOT: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey::__new(&SLOT)
        };
    };
}

/// A key for a task-local value, declared with [`crate::task_local!`].
///
/// The value is set with [`LocalKey::scope`] (for a future) or [`LocalKey::sync_scope`] (for a
/// closure) and read with [`LocalKey::with`], [`LocalKey::try_with`] or [`LocalKey::get`].
/// Same semantics as tokio's `task::LocalKey`.
///
/// # Examples
/// ```
/// rpal_rt::task_local! { static DEPTH: u32; }
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let d = rt.block_on(DEPTH.scope(3, async { DEPTH.get() }));
/// assert_eq!(d, 3);
/// ```
pub struct LocalKey<T: 'static> {
    slot: &'static std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    /// Used by [`crate::task_local!`]; not a public API.
    #[doc(hidden)]
    pub const fn __new(slot: &'static std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { slot }
    }

    /// Runs `future` with this key set to `value`; the value is dropped when the returned
    /// future completes or is dropped.
    ///
    /// # Examples
    /// ```
    /// rpal_rt::task_local! { static NAME: &'static str; }
    ///
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// rt.block_on(async {
    ///     let h = rpal_rt::spawn(NAME.scope("worker", async { NAME.get() }));
    ///     assert_eq!(h.await.unwrap(), "worker");
    /// });
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            value: Some(value),
            future: Some(future),
        }
    }

    /// Runs `f` with this key set to `value`.
    ///
    /// # Panics
    /// If called from inside [`LocalKey::with`] of the same key.
    #[track_caller]
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut value = Some(value);
        match self.enter(&mut value, f) {
            Ok(r) => r,
            Err(e) => e.panic(),
        }
    }

    /// Swaps `value` into the slot, runs `f`, swaps it back (also on unwind).
    fn enter<F: FnOnce() -> R, R>(
        &'static self,
        value: &mut Option<T>,
        f: F,
    ) -> Result<R, ScopeError> {
        struct Restore<'a, T: 'static> {
            key: &'static LocalKey<T>,
            value: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                // The borrow cannot fail: `with` borrows only for the length of its closure.
                let _ = self.key.swap(self.value);
            }
        }
        self.swap(value)?;
        let _restore = Restore { key: self, value };
        Ok(f())
    }

    fn swap(&'static self, value: &mut Option<T>) -> Result<(), ScopeError> {
        self.slot
            .try_with(|slot| {
                slot.try_borrow_mut()
                    .map(|mut s| std::mem::swap(&mut *s, value))
                    .map_err(|_| ScopeError::Borrowed)
            })
            .map_err(|_| ScopeError::ThreadLocalDestroyed)?
    }

    /// Calls `f` with a reference to the value.
    ///
    /// # Panics
    /// If the key is not set by an enclosing [`LocalKey::scope`].
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!(
                "task-local value not set: read it only inside a LocalKey::scope of this key"
            ),
        }
    }

    /// Calls `f` with a reference to the value, or fails if the key is not set.
    ///
    /// # Errors
    /// [`AccessError`] outside a scope of this key.
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        let res = self.slot.try_with(|slot| {
            let borrow = slot.try_borrow().map_err(|_| AccessError(()))?;
            match borrow.as_ref() {
                Some(v) => Ok(f(v)),
                None => Err(AccessError(())),
            }
        });
        res.map_err(|_| AccessError(()))?
    }
}

impl<T: Clone + 'static> LocalKey<T> {
    /// A copy (clone) of the value. (Tokio's `get` has the same `Clone` bound; every `Copy` type
    /// qualifies.)
    ///
    /// # Panics
    /// If the key is not set by an enclosing [`LocalKey::scope`].
    #[track_caller]
    pub fn get(&'static self) -> T {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("LocalKey { .. }")
    }
}

/// Why a task-local value could not be read: the key is not set in this scope.
///
/// # Examples
/// ```
/// rpal_rt::task_local! { static KEY: u8; }
/// let err = KEY.try_with(|_| ()).unwrap_err();
/// assert_eq!(err.to_string(), "task-local value not set in this scope");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError(());

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessError")
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set in this scope")
    }
}

impl Error for AccessError {}

enum ScopeError {
    Borrowed,
    ThreadLocalDestroyed,
}

impl ScopeError {
    #[track_caller]
    fn panic(self) -> ! {
        match self {
            ScopeError::Borrowed => panic!(
                "cannot enter a task-local scope while the value is borrowed by LocalKey::with"
            ),
            ScopeError::ThreadLocalDestroyed => {
                panic!("cannot enter a task-local scope: the thread is exiting")
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A future run with a task-local value set: see [`LocalKey::scope`].
    ///
    /// # Examples
    /// ```
    /// rpal_rt::task_local! { static KEY: u8; }
    /// let fut: rpal_rt::task::TaskLocalFuture<u8, _> = KEY.scope(1, async { KEY.get() });
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// assert_eq!(rt.block_on(fut), 1);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct TaskLocalFuture<T: 'static, F> {
        key: &'static LocalKey<T>,
        value: Option<T>,
        #[pin]
        future: Option<F>,
    }

    impl<T: 'static, F> PinnedDrop for TaskLocalFuture<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_some() {
                // Drop the inner future with its value in scope, as its own code would see it.
                // If the scope cannot be entered (thread exiting), drop it without.
                let key = *this.key;
                if key.enter(this.value, || future.as_mut().set(None)).is_err() {
                    future.set(None);
                }
            }
        }
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let key = *this.key;
        let mut future = this.future;
        let res = key.enter(this.value, || match future.as_mut().as_pin_mut() {
            Some(f) => {
                let out = f.poll(cx);
                if out.is_ready() {
                    future.set(None);
                }
                Some(out)
            }
            None => None,
        });
        match res {
            Ok(Some(out)) => out,
            Ok(None) => panic!("TaskLocalFuture polled after it returned Ready"),
            Err(e) => e.panic(),
        }
    }
}

impl<T: 'static + fmt::Debug, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}
