//! [`OnceCell`]: a value set once, with async initialisation run by one task at a time.
//!
//! The value lives in a `std::sync::OnceLock` (so `get` is one atomic load); a one-permit
//! [`Semaphore`] serialises initialisers: the permit holder runs its initialiser, and on success
//! sets the value and closes the semaphore, which releases every queued initialiser to read it.
//! If the initialiser is cancelled or fails, its permit goes to the next one in line.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use super::semaphore::Semaphore;

/// A thread-safe cell written once, possibly by an async initialiser.
///
/// # Examples
/// ```
/// use rpal_rt::sync::OnceCell;
///
/// static CONFIG: OnceCell<u32> = OnceCell::const_new();
/// # let _ = &CONFIG;
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let cell = OnceCell::new();
///     let v = cell.get_or_init(|| async { 7 }).await;
///     assert_eq!(*v, 7);
///     assert_eq!(cell.get(), Some(&7));
///     assert!(cell.set(8).is_err());
/// });
/// ```
pub struct OnceCell<T> {
    value: OnceLock<T>,
    init: LazySem,
}

/// The initialiser semaphore, created on first need so `const_new` works.
struct LazySem(OnceLock<Semaphore>);

impl LazySem {
    fn get(&self) -> &Semaphore {
        self.0.get_or_init(|| Semaphore::new(1))
    }
}

/// [`OnceCell::set`] failed; carries the value back.
///
/// ```
/// use rpal_rt::sync::{OnceCell, SetError};
/// let cell = OnceCell::new_with(Some(1));
/// assert_eq!(cell.set(2), Err(SetError::AlreadyInitializedError(2)));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// An initialiser is running.
    InitializingError(T),
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitializedError(_) => f.write_str("the cell is already initialized"),
            Self::InitializingError(_) => f.write_str("the cell is being initialized"),
        }
    }
}
impl<T: fmt::Debug> std::error::Error for SetError<T> {}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> Self {
        Self::const_new()
    }

    /// An empty cell, usable in a `static`.
    pub const fn const_new() -> Self {
        Self {
            value: OnceLock::new(),
            init: LazySem(OnceLock::new()),
        }
    }

    /// A cell holding `value` (or empty for `None`).
    pub fn new_with(value: Option<T>) -> Self {
        let cell = Self::new();
        if let Some(v) = value {
            let _ = cell.value.set(v);
        }
        cell
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, through exclusive access.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// True once a value is set.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// Sets the value if the cell is empty and no initialiser is running.
    ///
    /// # Errors
    /// [`SetError`] with the value handed back.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        let Ok(permit) = self.init.get().try_acquire() else {
            return Err(if self.initialized() {
                SetError::AlreadyInitializedError(value)
            } else {
                SetError::InitializingError(value)
            });
        };
        let r = self
            .value
            .set(value)
            .map_err(SetError::AlreadyInitializedError);
        self.init.get().close();
        drop(permit);
        r
    }

    /// The value, running `f` to produce it if the cell is empty. Concurrent callers wait for
    /// the one initialiser.
    ///
    /// # Cancel safety
    /// If the call running the initialiser is dropped, the next waiting caller runs its own.
    pub async fn get_or_init<F, Fut>(&self, f: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(f().await) })
            .await
        {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// As [`get_or_init`](Self::get_or_init) with a fallible initialiser.
    ///
    /// # Errors
    /// The initialiser's error; the cell stays empty and the next caller tries.
    ///
    /// # Cancel safety
    /// As [`get_or_init`](Self::get_or_init).
    pub async fn get_or_try_init<E, F, Fut>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut f = Some(f);
        loop {
            if let Some(v) = self.get() {
                return Ok(v);
            }
            // An error means the semaphore closed: the value is set; loop to read it.
            let Ok(permit) = self.init.get().acquire().await else {
                continue;
            };
            if let Some(v) = self.get() {
                return Ok(v);
            }
            let Some(f) = f.take() else { continue };
            let value = f().await?;
            let _ = self.value.set(value);
            self.init.get().close();
            drop(permit);
        }
    }

    /// The value, consuming the cell.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        let v = self.value.take();
        self.init = LazySem(OnceLock::new());
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    #[test]
    fn set_while_initialising_fails_and_a_cancelled_initialiser_lets_the_next_run() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let cell = OnceCell::new();
        {
            let mut first = pin!(cell.get_or_init(std::future::pending::<u8>));
            assert!(first.as_mut().poll(&mut cx).is_pending());
            assert_eq!(cell.set(1), Err(SetError::InitializingError(1)));
        } // the running initialiser is cancelled here
        {
            let mut second = pin!(cell.get_or_init(|| async { 2 }));
            assert!(matches!(second.as_mut().poll(&mut cx), Poll::Ready(&2)));
        }
        assert_eq!(cell.set(3), Err(SetError::AlreadyInitializedError(3)));
        let mut cell = cell;
        assert_eq!(cell.take(), Some(2));
        assert!(cell.set(4).is_ok());
        assert_eq!(cell.into_inner(), Some(4));
    }

    #[test]
    fn failed_initialiser_leaves_the_cell_empty() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let cell = OnceCell::<u8>::new();
        let mut f = pin!(cell.get_or_try_init(|| async { Err::<u8, &str>("no") }));
        assert!(matches!(f.as_mut().poll(&mut cx), Poll::Ready(Err("no"))));
        assert!(cell.get().is_none());
        assert!(cell.set(1).is_ok());
    }
}
