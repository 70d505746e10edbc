//! [`Semaphore`]: a fair (FIFO) counting semaphore; also the engine of [`Mutex`](super::Mutex)
//! and [`RwLock`](super::RwLock).
//!
//! # Invariants (all under the one lock)
//! * `permits` are free permits; while any waiter is queued, `permits == 0`: a release hands
//!   permits to the front waiter first (partially, for multi-permit waiters) and a newcomer queues
//!   behind existing waiters, so acquisition is first come, first served.
//! * A waiter's node value is the number of permits it still needs. A notifier that satisfies it
//!   pops it with value 0; [`Semaphore::close`] pops every waiter with its value unchanged, so a
//!   woken waiter whose value is not 0 knows it was closed out and returns what it had been given.
//! * A dropped [`Acquire`] gives back whatever it had been assigned (queued or already woken),
//!   through the same release path, so a cancelled acquire never loses permits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::lock;
use super::waiters::{WaitList, WaitState, WakeList};
use crate::loom::sync::Mutex;

/// An async counting semaphore with FIFO fairness.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use rpal_rt::sync::Semaphore;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let sem = Arc::new(Semaphore::new(2));
///     let a = sem.acquire().await.unwrap();
///     let _b = sem.clone().acquire_owned().await.unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    state: Mutex<State>,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: WaitList,
}

/// The largest number of permits a semaphore can hold.
const MAX_PERMITS: usize = usize::MAX >> 3;

/// [`Semaphore::acquire`] failed: the semaphore was closed.
///
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let sem = rpal_rt::sync::Semaphore::new(1);
/// sem.close();
/// assert!(rt.block_on(sem.acquire()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}
impl std::error::Error for AcquireError {}

/// [`Semaphore::try_acquire`] failed.
///
/// ```
/// use rpal_rt::sync::{Semaphore, TryAcquireError};
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free right now.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("semaphore closed"),
            Self::NoPermits => f.write_str("no permits available"),
        }
    }
}
impl std::error::Error for TryAcquireError {}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Semaphore")
            .field("permits", &st.permits)
            .field("closed", &st.closed)
            .finish()
    }
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` free permits.
    ///
    /// # Panics
    /// If `permits > MAX_PERMITS`.
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits, asked for {permits}"
        );
        Self {
            state: Mutex::new(State {
                permits,
                closed: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// The number of free permits.
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }

    /// Adds `n` permits, handing them to queued waiters first.
    ///
    /// # Panics
    /// If the total would exceed [`Semaphore::MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Removes up to `n` free permits for good; returns how many were removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut st = lock(&self.state);
        let gone = st.permits.min(n);
        st.permits -= gone;
        gone
    }

    /// Closes the semaphore: pending and future acquires fail; permits already held stay valid.
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.closed = true;
            st.waiters.drain_into(None, &mut wakers);
        }
        wakers.wake();
    }

    /// True after [`close`](Self::close).
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Takes one permit if one is free and nobody is queued.
    ///
    /// # Errors
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits at once if they are free.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(n as usize)?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// [`try_acquire`](Self::try_acquire) for an `Arc`-held semaphore; the permit owns the `Arc`.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many) for an `Arc`-held semaphore.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(n as usize)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Waits for one permit.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    /// Cancel safe, and fair: dropping the future gives back any permit it had been handed and
    /// leaves the queue order of the others unchanged.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits (taken all at once, in FIFO order with other waiters).
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    /// As [`acquire`](Self::acquire): permits handed to a dropped waiter go back.
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        Acquire::new(self, n as usize).await?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Waits for one permit of an `Arc`-held semaphore; the permit owns the `Arc`.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits of an `Arc`-held semaphore.
    ///
    /// # Errors
    /// [`AcquireError`] if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        Acquire::new(&self, n as usize).await?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Takes `n` permits now or reports why not.
    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut st = lock(&self.state);
        if st.closed {
            Err(TryAcquireError::Closed)
        } else if st.waiters.is_empty() && st.permits >= n {
            st.permits -= n;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Returns `n` permits: to queued waiters first, the rest to the free count.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.state);
            release_locked(&mut st, n, &mut wakers);
        }
        wakers.wake();
    }
}

/// Hands `n` permits to the queue front, then to the free count.
fn release_locked(st: &mut State, mut n: usize, wakers: &mut WakeList) {
    while n > 0 {
        let Some(need) = st.waiters.front_value_mut() else {
            break;
        };
        let give = n.min(*need);
        *need -= give;
        n -= give;
        if *need == 0 {
            wakers.push(st.waiters.pop_front(0));
        }
    }
    st.permits += n;
    assert!(
        st.permits <= MAX_PERMITS,
        "a semaphore holds at most {MAX_PERMITS} permits"
    );
}

/// The waiting part of an acquire: resolves once `n` permits are this future's (then it owns
/// them; the caller wraps them in a permit type) or the semaphore closed.
pub(crate) struct Acquire<'a> {
    sem: &'a Semaphore,
    n: usize,
    /// The wait-list key while queued.
    key: Option<usize>,
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(sem: &'a Semaphore, n: usize) -> Self {
        Self { sem, n, key: None }
    }
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = lock(&this.sem.state);
        match this.key {
            None => {
                if st.closed {
                    return Poll::Ready(Err(AcquireError(())));
                }
                // While waiters are queued `permits` is 0, so taking what is there keeps FIFO.
                let take = st.permits.min(this.n);
                st.permits -= take;
                if take == this.n {
                    return Poll::Ready(Ok(()));
                }
                this.key = Some(st.waiters.push_back(cx.waker(), this.n - take));
                Poll::Pending
            }
            Some(key) => match st.waiters.state(key) {
                WaitState::Linked(_) => {
                    st.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
                WaitState::Woken(need) => {
                    st.waiters.remove(key);
                    this.key = None;
                    if need == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    // Closed out: give back the part we had been handed.
                    let mut wakers = WakeList::new();
                    release_locked(&mut st, this.n - need, &mut wakers);
                    drop(st);
                    wakers.wake();
                    Poll::Ready(Err(AcquireError(())))
                }
            },
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.sem.state);
            let need = match st.waiters.remove(key) {
                WaitState::Linked(need) | WaitState::Woken(need) => need,
            };
            release_locked(&mut st, self.n - need, &mut wakers);
        }
        wakers.wake();
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("n", &self.n).finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; given back on drop.
///
/// # Examples
/// ```
/// let sem = rpal_rt::sync::Semaphore::new(3);
/// let p = sem.try_acquire_many(2).unwrap();
/// assert_eq!(p.num_permits(), 2);
/// p.forget(); // the two permits leave the semaphore for good
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permits go back as soon as this is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: u32,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits as usize);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits of an `Arc`-held [`Semaphore`], owning the `Arc`; given back on drop.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(rpal_rt::sync::Semaphore::new(1));
/// let p = sem.clone().try_acquire_owned().unwrap();
/// std::thread::spawn(move || drop(p)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permits go back as soon as this is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: u32,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.permits as usize);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let w = noop_waker();
        Pin::new(f).poll(&mut Context::from_waker(&w))
    }

    #[test]
    fn fifo_and_partial_hand_over() {
        let sem = Semaphore::new(1);
        let mut big = Box::pin(Acquire::new(&sem, 3));
        assert!(poll(&mut big).is_pending());
        assert_eq!(sem.available_permits(), 0);
        // A newcomer queues behind the big waiter even though a permit comes back.
        let mut small = Box::pin(Acquire::new(&sem, 1));
        assert!(poll(&mut small).is_pending());
        sem.add_permits(1);
        assert!(poll(&mut small).is_pending());
        sem.add_permits(2); // one completes `big`, the other goes to `small`
        assert!(matches!(poll(&mut big), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&mut small), Poll::Ready(Ok(()))));
        assert_eq!(sem.available_permits(), 0);
        sem.release(4);
        assert_eq!(sem.available_permits(), 4);
    }

    #[test]
    fn dropped_waiter_returns_partial_and_woken_permits() {
        let sem = Semaphore::new(2);
        let mut a = Box::pin(Acquire::new(&sem, 3));
        assert!(poll(&mut a).is_pending());
        let mut b = Box::pin(Acquire::new(&sem, 2));
        assert!(poll(&mut b).is_pending());
        drop(a); // its 2 partial permits go to b
        assert!(matches!(poll(&mut b), Poll::Ready(Ok(()))));
        sem.release(2);
        let mut c = Box::pin(Acquire::new(&sem, 3));
        assert!(poll(&mut c).is_pending());
        sem.add_permits(1); // c is now woken with all 3, but never polled again
        drop(c);
        assert_eq!(sem.available_permits(), 3);
    }

    #[test]
    fn close_fails_waiters_and_returns_their_share() {
        let sem = Semaphore::new(1);
        let mut a = Box::pin(Acquire::new(&sem, 2));
        assert!(poll(&mut a).is_pending());
        sem.close();
        assert!(matches!(poll(&mut a), Poll::Ready(Err(_))));
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc as LArc;
    use crate::loom::thread;

    #[test]
    fn loom_semaphore_release_vs_acquire_no_lost_permit() {
        loom::model(|| {
            let sem = LArc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let t = thread::spawn(move || s2.release(1));
            crate::loom::block_on(Acquire::new(&sem, 1)).unwrap();
            t.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
        });
    }

    #[test]
    fn loom_semaphore_two_waiters_and_close() {
        loom::model(|| {
            let sem = LArc::new(Semaphore::new(1));
            let s2 = sem.clone();
            let t = thread::spawn(move || {
                // Either gets a permit (and returns it) or sees the close.
                if crate::loom::block_on(Acquire::new(&s2, 1)).is_ok() {
                    s2.release(1);
                }
            });
            let mine = crate::loom::block_on(Acquire::new(&sem, 1)).is_ok();
            sem.close();
            if mine {
                sem.release(1);
            }
            t.join().unwrap();
            // No permit was lost or duplicated.
            assert_eq!(sem.available_permits(), 1);
        });
    }

    #[test]
    fn loom_semaphore_cancel_vs_release_keeps_permit() {
        loom::model(|| {
            let sem = LArc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let t = thread::spawn(move || s2.release(1));
            {
                let mut a = Box::pin(Acquire::new(&sem, 1));
                let w = futures::task::noop_waker();
                if let Poll::Ready(Ok(())) = Pin::new(&mut a).poll(&mut Context::from_waker(&w)) {
                    sem.release(1);
                }
                // dropped here, whether or not the permit reached it
            }
            t.join().unwrap();
            // Permit either went to `a` (which gave it back) or stayed free.
            assert_eq!(sem.available_permits(), 1);
        });
    }
}
