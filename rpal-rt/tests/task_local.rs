//! Task-local values and task names.

mod support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

rpal_rt::task_local! {
    static NUMBER: u32;
    pub static TEXT: String;
}

#[test]
fn scope_sets_the_value_for_the_future_only() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            assert!(NUMBER.try_with(|_| ()).is_err());
            let got = NUMBER
                .scope(5, async {
                    rpal_rt::yield_now().await;
                    let inner = NUMBER.scope(6, async { NUMBER.get() }).await;
                    (inner, NUMBER.get())
                })
                .await;
            assert_eq!(got, (6, 5));
            assert!(NUMBER.try_with(|_| ()).is_err());
            TEXT.scope("abc".into(), async {
                assert_eq!(TEXT.with(|t| t.len()), 3);
            })
            .await;
        });
    }
}

#[test]
fn interleaved_tasks_see_their_own_values() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            rpal_rt::spawn(async {
                let tasks: Vec<_> = (0..8u32)
                    .map(|i| {
                        rpal_rt::spawn(NUMBER.scope(i, async move {
                            for _ in 0..20 {
                                assert_eq!(NUMBER.get(), i);
                                rpal_rt::yield_now().await;
                            }
                            NUMBER.get()
                        }))
                    })
                    .collect();
                for (i, t) in tasks.into_iter().enumerate() {
                    assert_eq!(t.await.unwrap(), i as u32);
                }
            })
            .await
            .unwrap();
        });
    }
}

#[test]
fn spawned_tasks_do_not_inherit() {
    let rt = support::current_thread();
    rt.block_on(NUMBER.scope(1, async {
        let inherited = rpal_rt::spawn(async { NUMBER.try_with(|n| *n).is_ok() });
        assert!(!inherited.await.unwrap());
    }));
}

#[test]
fn sync_scope_and_with_panics_outside() {
    assert_eq!(NUMBER.sync_scope(3, || NUMBER.get() + 1), 4);
    let err = std::panic::catch_unwind(|| NUMBER.get()).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("not set"), "{msg}");
}

/// Checks in its `Drop` that the task-local is still set.
struct SeesValueOnDrop(Arc<AtomicBool>);
impl Drop for SeesValueOnDrop {
    fn drop(&mut self) {
        self.0
            .store(NUMBER.try_with(|n| *n == 9).unwrap_or(false), SeqCst);
    }
}

#[test]
fn inner_future_is_dropped_inside_the_scope() {
    let rt = support::current_thread();
    rt.block_on(async {
        let saw = Arc::new(AtomicBool::new(false));
        let guard = SeesValueOnDrop(saw.clone());
        let fut = NUMBER.scope(9, async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        let mut fut = Box::pin(fut);
        assert!(futures::poll!(fut.as_mut()).is_pending());
        drop(fut);
        assert!(saw.load(SeqCst));
    });
}

#[test]
fn named_tasks() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let h = rpal_rt::task::Builder::new()
                .name("alpha")
                .spawn(async {
                    rpal_rt::yield_now().await;
                    rpal_rt::task::name()
                })
                .unwrap();
            assert_eq!(h.await.unwrap().as_deref(), Some("alpha"));
            let h = rpal_rt::task::Builder::new()
                .name("beta")
                .spawn_local(async { rpal_rt::task::name() })
                .unwrap();
            assert_eq!(h.await.unwrap().as_deref(), Some("beta"));
            let unnamed = rpal_rt::spawn(async { rpal_rt::task::name() });
            assert_eq!(unnamed.await.unwrap(), None);
            assert_eq!(rpal_rt::task::name(), None);
        });
    }
}

#[test]
fn builder_outside_a_runtime_is_an_error() {
    assert!(rpal_rt::task::Builder::new()
        .name("x")
        .spawn(async {})
        .is_err());
}

#[test]
fn a_panic_hook_can_name_the_panicking_task() {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let s = seen.clone();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |_| {
        s.lock().unwrap().push(rpal_rt::task::name());
    }));
    let rt = support::current_thread();
    let err = rt.block_on(async {
        rpal_rt::task::Builder::new()
            .name("doomed")
            .spawn(async { panic!("on purpose") })
            .unwrap()
            .await
            .unwrap_err()
    });
    std::panic::set_hook(prev);
    assert!(err.is_panic());
    assert!(seen.lock().unwrap().contains(&Some("doomed".to_owned())));
}
