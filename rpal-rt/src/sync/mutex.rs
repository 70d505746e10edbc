//! [`Mutex`]: an async mutual-exclusion lock whose guard may be held across `.await`.
//!
//! A one-permit [`Semaphore`]: the guard owns the permit, and the data cell is touched only
//! through a guard, so at most one `&mut T` exists at a time. Waiters are served in FIFO order.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::{Acquire, Semaphore};

/// An async mutex. Prefer `std::sync::Mutex` when the lock is never held across an `.await`.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use rpal_rt::sync::Mutex;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let m = Arc::new(Mutex::new(0));
///     let m2 = m.clone();
///     rpal_rt::spawn(async move { *m2.lock().await += 1 }).await.unwrap();
///     *m.lock().await += 1;
///     assert_eq!(*m.lock().await, 2);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the data moves between threads only with the Mutex (T: Send); shared access hands out
// `&mut T` to one guard at a time (the semaphore's single permit), which needs only T: Send.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` gives exclusive access to T one guard at a time.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// [`Mutex::try_lock`] failed: the lock is held (or queued for).
///
/// ```
/// let m = rpal_rt::sync::Mutex::new(());
/// let _g = m.try_lock().unwrap();
/// assert!(m.try_lock().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block: the lock is held")
    }
}
impl std::error::Error for TryLockError {}

impl TryLockError {
    pub(super) fn new() -> Self {
        Self(())
    }
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub fn new(value: T) -> Self {
        Self {
            sem: Semaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `lock` future leaves the queue and, if the lock had just been handed
    /// to it, hands it on to the next waiter.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        self.acquire().await;
        MutexGuard { lock: self }
    }

    /// Waits for the lock of an `Arc`-held mutex; the guard owns the `Arc`.
    ///
    /// # Cancel safety
    /// As [`lock`](Self::lock).
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        self.acquire().await;
        OwnedMutexGuard { lock: self }
    }

    /// Takes the lock from outside any runtime, blocking the thread (never call it on a
    /// runtime worker: it would stall every task there).
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        futures::executor::block_on(self.lock())
    }

    /// Takes the lock if it is free.
    ///
    /// # Errors
    /// [`TryLockError`] if it is held.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire() {
            Ok(p) => {
                p.forget();
                Ok(MutexGuard { lock: self })
            }
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    async fn acquire(&self) {
        // The semaphore is never closed, so acquiring cannot fail.
        let _ = Acquire::new(&self.sem, 1).await;
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks on drop.
///
/// # Examples
/// ```
/// let m = rpal_rt::sync::Mutex::new(vec![1]);
/// let mut g = m.try_lock().unwrap();
/// g.push(2);
/// drop(g);
/// assert_eq!(m.into_inner(), vec![1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

// SAFETY: the guard gives `&T` to every thread that shares it, so T: Sync.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit, so no other reference to the data
        // exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only use of the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an `Arc`-held [`Mutex`], owning the `Arc`; unlocks on drop.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let m = Arc::new(rpal_rt::sync::Mutex::new(1));
///     let mut g = m.clone().lock_owned().await;
///     *g += 1;
///     drop(g);
///     assert_eq!(*m.lock().await, 2);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Arc<Mutex<T>>,
}

// SAFETY: as for MutexGuard.
unsafe impl<T: ?Sized + Sync> Sync for OwnedMutexGuard<T> {}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the mutex's only permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the mutex's only permit and is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn try_lock_excludes() {
        let m = Mutex::new(5);
        let g = m.try_lock().unwrap();
        assert!(m.try_lock().is_err());
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 5);
    }
}
