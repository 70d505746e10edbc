//! abort before, during and after completion; AbortHandle; abort from another thread.
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn abort_before_first_poll() {
    for (name, rt) in support::each_flavor() {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let err = rt.block_on(async move {
            // spawn_local queues on this thread, so nothing can poll it before the abort.
            let h = rpal_rt::spawn_local(async move { r.store(true, Ordering::SeqCst) });
            h.abort();
            h.await.unwrap_err()
        });
        assert!(err.is_cancelled(), "{name}: {err}");
        assert!(
            !ran.load(Ordering::SeqCst),
            "{name}: the future must not run"
        );
    }
}

#[test]
fn abort_while_pending_drops_the_future() {
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for (name, rt) in support::each_flavor() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        rt.block_on(async move {
            let guard = OnDrop(d);
            let h = rpal_rt::spawn(async move {
                let _g = guard;
                std::future::pending::<()>().await
            });
            rpal_rt::yield_now().await;
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}");
    }
}

#[test]
fn abort_after_completion_keeps_output() {
    for (name, rt) in support::each_flavor() {
        let v = rt.block_on(async {
            let h = rpal_rt::spawn(async { 5 });
            while !h.is_finished() {
                rpal_rt::yield_now().await;
            }
            h.abort();
            h.await
        });
        assert_eq!(v.unwrap(), 5, "{name}");
    }
}

#[test]
fn abort_from_inside_the_task_itself() {
    let rt = support::current_thread();
    let err = rt.block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<rpal_rt::task::AbortHandle>();
        let h = rpal_rt::spawn(async move {
            let me = rx.await.unwrap();
            me.abort();
            rpal_rt::yield_now().await;
            unreachable!("aborted at the yield");
        });
        tx.send(h.abort_handle()).ok().unwrap();
        h.await.unwrap_err()
    });
    assert!(err.is_cancelled());
}

#[test]
fn abort_from_foreign_thread() {
    for (name, rt) in support::each_flavor() {
        let err = rt.block_on(async {
            let h = rpal_rt::spawn(std::future::pending::<()>());
            let ah = h.abort_handle();
            std::thread::spawn(move || ah.abort()).join().unwrap();
            h.await.unwrap_err()
        });
        assert!(err.is_cancelled(), "{name}");
    }
}

#[test]
fn dropping_join_handle_detaches() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async move {
            let (tx, rx) = futures::channel::oneshot::channel();
            drop(rpal_rt::spawn(async move {
                rpal_rt::yield_now().await;
                let _ = tx.send(());
            }));
            // On thread-per-core the task runs on another worker: wait for it (generously, the
            // suite runs loaded), do not assume it runs within some number of yields.
            let ran = rpal_rt::time::timeout(std::time::Duration::from_secs(20), rx).await;
            assert!(
                matches!(ran, Ok(Ok(()))),
                "{name}: detached task must still run"
            );
        });
    }
}
