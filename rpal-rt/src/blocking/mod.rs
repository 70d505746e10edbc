//! `spawn_blocking`: runs blocking code on a bounded pool of threads, so workers never block.
//!
//! The pool starts threads on demand up to `Builder::max_blocking_threads` (default 512); an idle
//! thread exits after `Builder::blocking_keep_alive` (default 10 s). Work beyond the thread bound
//! waits in a FIFO queue. A blocking task cannot be interrupted once started: `abort` only
//! cancels it while it still waits in the queue. At runtime drop, queued work is cancelled and
//! running work finishes on its detached thread.

mod pool;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) use pool::PoolShared;

use crate::runtime::context;
use crate::task::{self, JoinHandle, Owner};
use std::sync::Arc;

/// Runs `f` on the current runtime's blocking pool; the handle resolves to its result (or to a
/// `JoinError` if it panicked).
///
/// # Panics
/// Outside an rpal runtime.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let n = rt.block_on(async {
///     rpal_rt::spawn_blocking(|| {
///         std::thread::sleep(std::time::Duration::from_millis(1));
///         5
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(n, 5);
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = context::with(|cx| cx.map(|cx| cx.rt.blocking.clone()));
    match pool {
        Some(pool) => spawn_on(&pool, f),
        None => panic!("rpal_rt::spawn_blocking: {}", context::no_runtime_error()),
    }
}

pub(crate) fn spawn_on<F, R>(pool: &Arc<PoolShared>, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (task, handle) = task::new_task(BlockingTask { f: Some(f) }, Owner::Blocking(pool.clone()));
    pool.schedule(task);
    handle
}

/// A closure run as a one-poll future.
struct BlockingTask<F> {
    f: Option<F>,
}

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        match self.f.take() {
            Some(f) => Poll::Ready(f()),
            None => panic!("blocking task polled after completion"),
        }
    }
}
