//! Panics in tasks become JoinErrors; the runtime keeps serving.
mod support;

#[test]
fn panic_becomes_join_error_and_runtime_survives() {
    for (name, rt) in support::each_flavor() {
        let (err, after) = rt.block_on(async {
            let err = rpal_rt::spawn(async { panic!("task exploded") })
                .await
                .unwrap_err();
            let after = rpal_rt::spawn(async { 1 }).await.unwrap();
            (err, after)
        });
        assert!(err.is_panic(), "{name}");
        assert!(err.to_string().contains("task exploded"), "{name}: {err}");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"task exploded"));
        assert_eq!(after, 1);
    }
}

#[test]
fn panic_in_drop_of_aborted_task_is_contained() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("drop bomb");
        }
    }
    let rt = support::current_thread();
    let err = rt.block_on(async {
        let h = rpal_rt::spawn(async {
            let _b = Bomb;
            std::future::pending::<()>().await
        });
        rpal_rt::yield_now().await;
        h.abort();
        h.await.unwrap_err()
    });
    assert!(
        err.is_panic(),
        "a panicking drop is reported as a panic: {err}"
    );
}

#[test]
fn many_panicking_tasks() {
    let rt = support::thread_per_core(2);
    let panics = rt.block_on(async {
        let hs: Vec<_> = (0..200)
            .map(|i| {
                rpal_rt::spawn(async move {
                    if i % 2 == 0 {
                        panic!("even {i}");
                    }
                    i
                })
            })
            .collect();
        let mut panics = 0;
        for h in hs {
            if h.await.is_err() {
                panics += 1;
            }
        }
        panics
    });
    assert_eq!(panics, 100);
}

#[test]
fn block_on_future_panic_propagates_and_runtime_is_reusable() {
    let rt = support::current_thread();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("main panicked") })
    }));
    assert!(r.is_err());
    assert_eq!(
        rt.block_on(async { rpal_rt::spawn(async { 3 }).await.unwrap() }),
        3
    );
}
