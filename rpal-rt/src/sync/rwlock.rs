//! [`RwLock`]: an async reader-writer lock, fair (FIFO): a queued writer holds back later readers.
//!
//! A semaphore of [`MAX_READS`] permits: a reader takes one, a writer takes them all. The data is
//! touched only through guards, so readers share `&T` and a writer has the only `&mut T`.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::mutex::TryLockError;
use super::semaphore::{Acquire, Semaphore};

/// How many readers may hold the lock at once.
const MAX_READS: u32 = u32::MAX >> 3;

/// An async reader-writer lock.
///
/// # Examples
/// ```
/// use rpal_rt::sync::RwLock;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let lock = RwLock::new(1);
///     {
///         let a = lock.read().await;
///         let b = lock.read().await;
///         assert_eq!(*a + *b, 2);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 2);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns a T, so sending it sends the T.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers on several threads share `&T` (T: Sync); a writer gets `&mut T` alone and may
// be on another thread than the one that created it (T: Send).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock.
    pub fn new(value: T) -> Self {
        Self {
            sem: Semaphore::new(MAX_READS as usize),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future leaves the queue and hands on anything it had been given.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        // Never closed: cannot fail.
        let _ = Acquire::new(&self.sem, 1).await;
        RwLockReadGuard { lock: self }
    }

    /// Waits for exclusive access.
    ///
    /// # Cancel safety
    /// As [`read`](Self::read).
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let _ = Acquire::new(&self.sem, MAX_READS as usize).await;
        RwLockWriteGuard { lock: self }
    }

    /// Shared access if available now.
    ///
    /// # Errors
    /// [`TryLockError`] if a writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire() {
            Ok(p) => {
                p.forget();
                Ok(RwLockReadGuard { lock: self })
            }
            Err(_) => Err(TryLockError::new()),
        }
    }

    /// Exclusive access if available now.
    ///
    /// # Errors
    /// [`TryLockError`] if anyone holds or waits for the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_many(MAX_READS) {
            Ok(p) => {
                p.forget();
                Ok(RwLockWriteGuard { lock: self })
            }
            Err(_) => Err(TryLockError::new()),
        }
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// Shared access to an [`RwLock`]'s value; released on drop.
///
/// # Examples
/// ```
/// let lock = rpal_rt::sync::RwLock::new(3);
/// let g = lock.try_read().unwrap();
/// assert_eq!(*g, 3);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a read guard only hands out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: sending a read guard shares `&T` with another thread.
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds a read permit, so no writer (which needs every permit) exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; released on drop.
///
/// # Examples
/// ```
/// let lock = rpal_rt::sync::RwLock::new(3);
/// *lock.try_write().unwrap() = 4;
/// assert_eq!(*lock.try_read().unwrap(), 4);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}
// SAFETY: sending the guard moves `&mut T` access to another thread.
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds every permit: no other guard exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(MAX_READS as usize);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn readers_share_writer_excludes() {
        let l = RwLock::new(0);
        let r1 = l.try_read().unwrap();
        let r2 = l.try_read().unwrap();
        assert!(l.try_write().is_err());
        drop((r1, r2));
        let w = l.try_write().unwrap();
        assert!(l.try_read().is_err());
        drop(w);
        assert!(l.try_read().is_ok());
    }
}
