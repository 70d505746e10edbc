//! Driver tests, each run once per driver through [`for_each_driver`].
//!
//! They drive `Driver`/`Handle` directly (no runtime), looping `park` until the expected event.
//! The io_uring half is skipped, with the probe's reason printed, when the probe fails; set
//! `RPAL_TEST_REQUIRE_URING=1` to make that a failure instead (CI on a known-good kernel).
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use super::{detect, Direction, Driver, DriverInner, DriverKind, Handle};
use crate::io::{Interest, Ready, Registration, UserSource};

/// Longest any test waits for an event before failing.
const DEADLINE: Duration = Duration::from_secs(5);
/// Park slice used while waiting for an event.
const SLICE: Duration = Duration::from_millis(10);

/// Runs `body` with an epoll driver, then with an io_uring driver when the probe passes.
fn for_each_driver(body: impl Fn(DriverKind)) {
    body(DriverKind::Epoll);
    match detect::uring_probe() {
        Ok(()) => body(DriverKind::Uring),
        Err(why) if std::env::var_os("RPAL_TEST_REQUIRE_URING").is_some() => {
            panic!("io_uring required by RPAL_TEST_REQUIRE_URING but unavailable: {why}")
        }
        Err(why) => eprintln!("SKIPPED the io_uring half of this test: {why}"),
    }
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountWaker(AtomicUsize);
impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counting_waker() -> (Arc<CountWaker>, Waker) {
    let c = Arc::new(CountWaker::default());
    (c.clone(), Waker::from(c))
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Parks `driver` in slices until `cond` holds; panics after [`DEADLINE`].
fn park_until(driver: &mut Driver, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "{:?}: timed out waiting for {what}",
            driver.kind()
        );
        driver.park(Some(SLICE)).unwrap();
    }
}

fn ready_now(reg: &Registration, dir: Direction) -> Option<Ready> {
    let (_c, w) = counting_waker();
    let mut cx = Context::from_waker(&w);
    let polled = match dir {
        Direction::Read => reg.poll_read_ready(&mut cx),
        Direction::Write => reg.poll_write_ready(&mut cx),
    };
    match polled {
        Poll::Ready(ev) => Some(ev.unwrap().ready()),
        Poll::Pending => None,
    }
}

fn register(h: &Handle, fd: &impl AsRawFd, i: Interest) -> Registration {
    Registration::with_handle(h.clone(), fd.as_raw_fd(), i).unwrap()
}

#[test]
fn readable_after_write_from_other_thread_wakes_reader() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let (a, b) = pair();
        let reg = register(&driver.handle(), &a, Interest::READABLE);
        driver.park(Some(Duration::ZERO)).unwrap();
        let (count, w) = counting_waker();
        let mut cx = Context::from_waker(&w);
        assert!(
            reg.poll_read_ready(&mut cx).is_pending(),
            "{kind:?}: nothing written yet"
        );
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            (&b).write_all(b"ping").unwrap();
            b
        });
        park_until(&mut driver, "reader waker", || {
            count.0.load(Ordering::SeqCst) > 0
        });
        let Poll::Ready(Ok(ev)) = reg.poll_read_ready(&mut cx) else {
            panic!("{kind:?}")
        };
        assert!(ev.ready().is_readable());
        let mut buf = [0u8; 8];
        assert_eq!((&a).read(&mut buf).unwrap(), 4);
        // Drained: WouldBlock clears the readiness and the next poll is pending again.
        let res = reg.poll_io(&mut cx, Interest::READABLE, || (&a).read(&mut buf));
        assert!(res.is_pending(), "{kind:?}: drained socket must wait");
        drop(writer.join().unwrap());
    });
}

#[test]
fn writable_readiness_comes_back_after_the_peer_drains() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let (a, b) = pair();
        let reg = register(&driver.handle(), &a, Interest::BOTH);
        park_until(&mut driver, "writable", || {
            ready_now(&reg, Direction::Write).is_some_and(|r| r.is_writable())
        });
        assert!(
            ready_now(&reg, Direction::Read).is_none(),
            "{kind:?}: not readable"
        );
        // Fill the socket buffer through poll_io until it would block.
        let (count, w) = counting_waker();
        let mut cx = Context::from_waker(&w);
        let chunk = [7u8; 4096];
        let mut written = 0usize;
        while let Poll::Ready(n) = reg.poll_io(&mut cx, Interest::WRITABLE, || (&a).write(&chunk)) {
            written += n.unwrap();
        }
        assert!(written > 0);
        // The peer drains everything: writable again, and the writer's waker fires.
        let mut buf = vec![0u8; 1 << 16];
        let mut read = 0;
        while read < written {
            match (&b).read(&mut buf) {
                Ok(n) => read += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        park_until(&mut driver, "writer waker", || {
            count.0.load(Ordering::SeqCst) > 0
        });
        assert!(reg
            .poll_io(&mut cx, Interest::WRITABLE, || (&a).write(b"x"))
            .is_ready());
    });
}

#[test]
fn peer_close_gives_read_closed() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let (a, b) = pair();
        let reg = register(&driver.handle(), &a, Interest::READABLE);
        driver.park(Some(Duration::ZERO)).unwrap();
        drop(b);
        park_until(&mut driver, "read closed", || {
            ready_now(&reg, Direction::Read).is_some_and(|r| r.is_read_closed())
        });
        let mut buf = [0u8; 4];
        assert_eq!((&a).read(&mut buf).unwrap(), 0, "EOF");
    });
}

/// After deregister + close, the peer sees EOF: the driver no longer holds the file.
fn check_peer_sees_eof(b: &UnixStream, kind: DriverKind, mut turn: impl FnMut()) {
    let start = Instant::now();
    let mut buf = [0u8; 4];
    loop {
        match (&*b).read(&mut buf) {
            Ok(0) => return,
            Ok(_) => panic!("{kind:?}: unexpected data"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < DEADLINE,
                    "{kind:?}: file still held after close"
                );
                turn();
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn deregister_then_close_releases_the_file() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let handle = driver.handle();
        let (a, b) = pair();
        let reg = register(&handle, &a, Interest::BOTH);
        driver.park(Some(Duration::ZERO)).unwrap(); // the poll is armed now
        drop(reg);
        drop(a);
        check_peer_sees_eof(&b, kind, || driver.park(Some(Duration::ZERO)).unwrap());
        assert_eq!(registered(&handle), 0);

        // Registration dropped before the owner ever parked: nothing is left behind either.
        let (a, b) = pair();
        drop(register(&handle, &a, Interest::READABLE));
        drop(a);
        driver.park(Some(Duration::ZERO)).unwrap();
        check_peer_sees_eof(&b, kind, || {});
    });
}

fn registered(h: &Handle) -> usize {
    match &h.inner {
        super::HandleInner::Uring(s) => s.registered(),
        super::HandleInner::Epoll(s) => s.registered(),
    }
}

/// Runs `driver` on its own thread, parking forever until `stop`.
fn run_parked(mut driver: Driver, stop: Arc<AtomicBool>) -> thread::JoinHandle<Driver> {
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            driver.park(None).unwrap();
        }
        driver
    })
}

#[test]
fn foreign_thread_register_and_deregister_reach_a_parked_owner() {
    for_each_driver(|kind| {
        let driver = Driver::new(Some(kind)).unwrap();
        let handle = driver.handle();
        let stop = Arc::new(AtomicBool::new(false));
        let owner = run_parked(driver, stop.clone());
        thread::sleep(Duration::from_millis(20)); // let it park

        // Readable before registration; the parked owner must arm the poll and report it.
        let (a, b) = pair();
        (&b).write_all(b"hi").unwrap();
        let reg = register(&handle, &a, Interest::READABLE);
        let (count, w) = counting_waker();
        let mut cx = Context::from_waker(&w);
        let start = Instant::now();
        while reg.poll_read_ready(&mut cx).is_pending() && count.0.load(Ordering::SeqCst) == 0 {
            assert!(
                start.elapsed() < DEADLINE,
                "{kind:?}: parked owner never reported"
            );
            thread::sleep(Duration::from_millis(1));
        }
        // Deregister and close while the owner is parked: the peer must see EOF. (Read the data
        // first: closing a socket with unread data resets the connection instead.)
        assert_eq!((&a).read(&mut [0u8; 4]).unwrap(), 2);
        drop(reg);
        drop(a);
        check_peer_sees_eof(&b, kind, || {});

        stop.store(true, Ordering::SeqCst);
        handle.unpark();
        drop(owner.join().unwrap());
    });
}

/// A driver built and first parked on a thread that then exits keeps working on another thread
/// (io_uring cancels the polls the exiting thread submitted; the driver re-arms them).
#[test]
fn driver_outlives_the_thread_that_armed_its_polls() {
    for_each_driver(|kind| {
        let (a, b) = pair();
        let a_fd = a.as_raw_fd();
        let (mut driver, reg) = thread::spawn(move || {
            let mut driver = Driver::new(Some(kind)).unwrap();
            let reg = Registration::with_handle(driver.handle(), a_fd, Interest::READABLE).unwrap();
            driver.park(Some(Duration::ZERO)).unwrap();
            (driver, reg)
        })
        .join()
        .unwrap();
        // The creator has exited; let any cancellation land, then produce.
        driver.park(Some(Duration::from_millis(5))).unwrap();
        (&b).write_all(b"late").unwrap();
        park_until(&mut driver, "readable after thread exit", || {
            ready_now(&reg, Direction::Read).is_some_and(|r| r.is_readable())
        });
        // And the doorbell still works.
        let h = driver.handle();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            h.unpark();
        });
        driver.park(None).unwrap();
        t.join().unwrap();
        drop(reg);
        drop(a);
    });
}

#[test]
fn unpark_from_another_thread_ends_an_infinite_park() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let handle = driver.handle();
        // Rung before the park: the park returns at once.
        handle.unpark();
        driver.park(None).unwrap();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            handle.unpark();
        });
        let start = Instant::now();
        driver.park(None).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(1),
            "{kind:?}: returned before unpark"
        );
        t.join().unwrap();
        // Several unparks in a row, then the bell is quiet again.
        driver.handle().unpark();
        driver.handle().unpark();
        driver.park(None).unwrap();
        let start = Instant::now();
        driver.park(Some(Duration::from_millis(5))).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(5),
            "{kind:?}: stale doorbell"
        );
    });
}

/// Parks for 300 µs a few times: never early, and at least once well under 50 ms.
fn check_sub_ms_park(driver: &mut Driver) {
    let want = Duration::from_micros(300);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        driver.park(Some(want)).unwrap();
        let got = start.elapsed();
        assert!(
            got >= want,
            "{:?}: returned after {got:?} < {want:?}",
            driver.kind()
        );
        best = best.min(got);
    }
    assert!(
        best < Duration::from_millis(50),
        "{:?}: best {best:?}",
        driver.kind()
    );
    eprintln!("{:?}: 300 us park took {best:?} at best", driver.kind());
}

#[test]
fn sub_millisecond_park_timeout() {
    for_each_driver(|kind| check_sub_ms_park(&mut Driver::new(Some(kind)).unwrap()));
}

#[test]
fn sub_millisecond_park_timeout_epoll_timerfd_fallback() {
    let mut driver = Driver::new(Some(DriverKind::Epoll)).unwrap();
    let DriverInner::Epoll(d) = &mut driver.inner else {
        unreachable!()
    };
    d.force_no_pwait2();
    check_sub_ms_park(&mut driver);
    // Whole milliseconds take the plain epoll_wait path.
    let start = Instant::now();
    driver.park(Some(Duration::from_millis(2))).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(2));
}

#[test]
fn zero_timeout_does_not_block() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let (a, _b) = pair();
        let _reg = register(&driver.handle(), &a, Interest::READABLE);
        let start = Instant::now();
        for _ in 0..100 {
            driver.park(Some(Duration::ZERO)).unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{kind:?}: ZERO park blocked"
        );
    });
}

#[test]
fn readiness_present_before_registration_is_reported() {
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let (a, b) = pair();
        (&b).write_all(b"early").unwrap();
        let reg = register(&driver.handle(), &a, Interest::READABLE);
        park_until(&mut driver, "early readiness", || {
            ready_now(&reg, Direction::Read).is_some_and(|r| r.is_readable())
        });
    });
}

#[test]
fn dropping_the_driver_shuts_registrations_down() {
    for_each_driver(|kind| {
        let driver = Driver::new(Some(kind)).unwrap();
        let handle = driver.handle();
        let (a, _b) = pair();
        let reg = register(&handle, &a, Interest::READABLE);
        let (count, w) = counting_waker();
        let mut cx = Context::from_waker(&w);
        assert!(reg.poll_read_ready(&mut cx).is_pending());
        drop(driver);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "{kind:?}: waiter woken");
        assert!(matches!(reg.poll_read_ready(&mut cx), Poll::Ready(Err(_))));
        let err = Registration::with_handle(handle, a.as_raw_fd(), Interest::READABLE).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
    });
}

/// A user source whose producer follows the documented handshake wakes a parked driver.
#[test]
fn user_source_handshake_wakes_parked_driver() {
    struct Flag {
        set: AtomicBool,
        waiting: AtomicBool,
    }
    impl UserSource for Flag {
        fn poll(&self) -> bool {
            self.set.swap(false, Ordering::SeqCst)
        }
        fn prepare_park(&self) -> bool {
            self.waiting.store(true, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            self.set.load(Ordering::SeqCst)
        }
        fn after_park(&self) {
            self.waiting.store(false, Ordering::SeqCst);
        }
    }
    for_each_driver(|kind| {
        let mut driver = Driver::new(Some(kind)).unwrap();
        let handle = driver.handle();
        let sources = super::source::SourceRegistry::new();
        let flag = Arc::new(Flag {
            set: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
        });
        let _key = sources.register(flag.clone());
        let producer = {
            let flag = flag.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                flag.set.store(true, Ordering::SeqCst);
                std::sync::atomic::fence(Ordering::SeqCst);
                if flag.waiting.load(Ordering::SeqCst) {
                    handle.unpark();
                }
            })
        };
        let start = Instant::now();
        loop {
            if sources.poll() {
                break;
            }
            if !sources.prepare_park() {
                driver.park(None).unwrap(); // must be woken by the producer's ring
                sources.after_park();
            }
            assert!(start.elapsed() < DEADLINE, "{kind:?}: lost wake-up");
        }
        producer.join().unwrap();
    });
}
