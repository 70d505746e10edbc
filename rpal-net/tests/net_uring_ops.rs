//! Socket I/O as io_uring operations (RECV/SEND/ACCEPT) versus readiness: which path runs (ring
//! op metrics), that both move the same bytes, and that cancelled operations lose nothing and
//! release the socket. Runs under the driver CI chooses (RPAL_DRIVER).

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use rpal_net::{TcpListener, TcpStream, UnixListener, UnixStream};
use rpal_rt::io::uring::SocketIo;
use rpal_rt::runtime::{Builder, DriverKind};
use rpal_rt::Runtime;

/// Bound on an await that could hang.
const LIMIT: Duration = Duration::from_secs(20);

/// Every ring mode the tests that need one run under.
const RING_MODES: [SocketIo; 4] = [
    SocketIo::Ring,
    SocketIo::RingPlain,
    SocketIo::RingMultishot,
    SocketIo::Adaptive,
];

fn ring_runtimes() -> Vec<(&'static str, Runtime)> {
    RING_MODES.iter().flat_map(|&m| runtimes_with(m)).collect()
}

fn runtimes_with(io: SocketIo) -> Vec<(&'static str, Runtime)> {
    vec![
        (
            "current_thread",
            Builder::new_current_thread()
                .uring_socket_io(io)
                .build()
                .unwrap(),
        ),
        (
            "thread_per_core",
            Builder::new_thread_per_core()
                .worker_threads(2)
                .uring_socket_io(io)
                .build()
                .unwrap(),
        ),
    ]
}

fn in_task<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move {
        rpal_rt::time::timeout(LIMIT, rpal_rt::spawn(fut))
            .await
            .expect("test task timed out")
            .unwrap()
    })
}

async fn tcp_echo_round_trips(n: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rpal_rt::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        loop {
            let k = s.read(&mut buf).await.unwrap();
            if k == 0 {
                return;
            }
            s.write_all(&buf[..k]).await.unwrap();
        }
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    for i in 0..n {
        let msg = [i as u8; 64];
        c.write_all(&msg).await.unwrap();
        let mut back = [0u8; 64];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
    drop(c);
    server.await.unwrap();
}

async fn unix_stream_bulk(bytes: usize) {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let writer = rpal_rt::spawn(async move {
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
        let mut left = bytes;
        while left > 0 {
            let k = left.min(chunk.len());
            a.write_all(&chunk[..k]).await.unwrap();
            left -= k;
        }
        a.close().await.unwrap();
    });
    let mut got = 0usize;
    let mut buf = vec![0u8; 50_000];
    loop {
        let k = b.read(&mut buf).await.unwrap();
        if k == 0 {
            break;
        }
        for (j, &x) in buf[..k].iter().enumerate() {
            assert_eq!(x, ((got + j) % 65536 % 253) as u8, "byte {}", got + j);
        }
        got += k;
    }
    assert_eq!(got, bytes);
    writer.await.unwrap();
}

#[test]
fn the_chosen_path_runs_and_moves_the_same_bytes() {
    for mode in [
        SocketIo::Ring,
        SocketIo::RingPlain,
        SocketIo::RingMultishot,
        SocketIo::Adaptive,
        SocketIo::Readiness,
    ] {
        let ring = mode != SocketIo::Readiness;
        for (name, rt) in runtimes_with(mode) {
            let before = rt.metrics().ring_ops_submitted_count();
            in_task(&rt, tcp_echo_round_trips(200));
            in_task(&rt, unix_stream_bulk(8 << 20));
            let m = rt.metrics();
            let ops = m.ring_ops_submitted_count() - before;
            eprintln!(
                "{name} {:?} socket ops {:?}: {ops} ring ops",
                rt.driver_kind(),
                mode
            );
            if rt.driver_kind() == DriverKind::Uring && ring {
                // A multishot RECV serves many reads with one submission.
                let least = if mode == SocketIo::RingMultishot {
                    4
                } else {
                    400
                };
                assert!(ops >= least, "{name}: only {ops} ring ops");
            } else {
                assert_eq!(ops, 0, "{name}: ring ops on the readiness path");
            }
        }
    }
}

#[test]
fn a_read_abandoned_mid_flight_loses_no_bytes() {
    for (_, rt) in ring_runtimes() {
        in_task(&rt, async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let mut buf = [0u8; 16];
            for round in 0..50u8 {
                // Start a read that cannot complete yet, let it reach the kernel, abandon it.
                {
                    let fut = b.read(&mut buf);
                    futures::pin_mut!(fut);
                    assert!(fut.as_mut().now_or_never().is_none());
                    rpal_rt::time::sleep(Duration::from_micros(50)).await;
                }
                a.write_all(&[round; 3]).await.unwrap();
                let mut got = [0u8; 3];
                b.read_exact(&mut got).await.unwrap();
                assert_eq!(got, [round; 3]);
            }
        });
    }
}

#[test]
fn dropping_a_stream_with_a_read_in_flight_closes_it() {
    for (_, rt) in ring_runtimes() {
        in_task(&rt, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut c = TcpStream::connect(addr).await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            {
                let mut buf = [0u8; 8];
                let fut = s.read(&mut buf);
                futures::pin_mut!(fut);
                assert!(fut.as_mut().now_or_never().is_none());
                rpal_rt::time::sleep(Duration::from_micros(50)).await;
            }
            drop(s); // the RECV is cancelled; the fd closes when the kernel lets go
            let mut buf = [0u8; 8];
            let n = rpal_rt::time::timeout(LIMIT, c.read(&mut buf))
                .await
                .expect("the peer never saw the close")
                .unwrap_or(0);
            assert_eq!(n, 0, "end of stream after the close");
        });
    }
}

#[test]
fn an_abandoned_accept_does_not_swallow_a_connection() {
    for (_, rt) in ring_runtimes() {
        in_task(&rt, async {
            let path = std::env::temp_dir().join(format!(
                "rpal-uring-accept-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path).unwrap();
            for round in 0..10u8 {
                {
                    let fut = listener.accept();
                    futures::pin_mut!(fut);
                    assert!(fut.as_mut().now_or_never().is_none());
                    rpal_rt::time::sleep(Duration::from_micros(50)).await;
                }
                let mut c = UnixStream::connect(&path).await.unwrap();
                c.write_all(&[round]).await.unwrap();
                let (mut s, _) = listener.accept().await.unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                assert_eq!(b, [round]);
            }
            let _ = std::fs::remove_file(&path);
        });
    }
}

#[test]
fn abandoning_a_write_then_writing_other_bytes_is_an_error_not_silent_corruption() {
    for (_, rt) in ring_runtimes() {
        let uring = rt.driver_kind() == DriverKind::Uring;
        in_task(&rt, async move {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let big = vec![1u8; 8 << 20];
            // Fill the socket so a write stays pending, abandon it, then write different bytes.
            {
                let fut = a.write(&big);
                futures::pin_mut!(fut);
                let first = fut.as_mut().now_or_never();
                if first.is_some() {
                    // Readiness path (or the kernel took it all): nothing to check.
                    return;
                }
                rpal_rt::time::sleep(Duration::from_millis(1)).await;
            }
            let drain = rpal_rt::spawn(async move {
                let mut buf = vec![0u8; 1 << 20];
                while b.read(&mut buf).await.unwrap_or(0) > 0 {}
            });
            let r = a.write(&[2u8; 16]).await;
            if uring {
                assert!(
                    r.is_err(),
                    "different bytes after an abandoned SEND must fail"
                );
            }
            drop(a);
            drain.await.unwrap();
        });
    }
}

#[test]
fn runtime_shutdown_with_socket_ops_in_flight_is_clean() {
    for ring in RING_MODES {
        let rt = Builder::new_thread_per_core()
            .worker_threads(2)
            .uring_socket_io(ring)
            .build()
            .unwrap();
        // Peers kept outside the runtime, so the sockets stay connected while the runtime dies.
        let peers = rt.block_on(async {
            let mut peers = Vec::new();
            for _ in 0..16 {
                let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
                peers.push(a);
                rpal_rt::spawn(async move {
                    let mut b = UnixStream::from_std(b).unwrap();
                    let mut buf = vec![0u8; 1 << 16];
                    let _ = b.read(&mut buf).await; // a RECV that never completes
                });
            }
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            rpal_rt::spawn(async move {
                let _ = listener.accept().await; // an ACCEPT that never completes
            });
            rpal_rt::time::sleep(Duration::from_millis(20)).await;
            peers
        });
        drop(rt); // every op is cancelled and drained by its driver
                  // The runtime's ends are closed: each peer reads end of stream.
        for p in peers {
            p.set_read_timeout(Some(LIMIT)).unwrap();
            let mut b = [0u8; 1];
            assert_eq!(std::io::Read::read(&mut &p, &mut b).unwrap(), 0);
        }
    }
}

#[test]
fn multishot_receives_survive_running_out_of_provided_buffers() {
    // More sockets than the worker has provided buffers (64), each with a multishot RECV armed
    // and data queued while nobody reads: the kernel runs out of buffers (ENOBUFS), and every
    // byte must still arrive, in order.
    const SOCKETS: usize = 96;
    const BYTES: usize = 48 * 1024;
    for (_, rt) in runtimes_with(SocketIo::RingMultishot) {
        in_task(&rt, async {
            let mut pairs = Vec::new();
            for _ in 0..SOCKETS {
                pairs.push(UnixStream::pair().unwrap());
            }
            // Arm: one byte each (the first read may use a single RECV while the worker
            // registers its buffers; the second arms the multishot).
            for _ in 0..2 {
                for (a, b) in &mut pairs {
                    a.write_all(&[0xAA]).await.unwrap();
                    let mut one = [0u8; 1];
                    b.read_exact(&mut one).await.unwrap();
                    assert_eq!(one, [0xAA]);
                }
            }
            for (i, (a, _)) in pairs.iter_mut().enumerate() {
                let data: Vec<u8> = (0..BYTES).map(|j| (i + j) as u8).collect();
                a.write_all(&data).await.unwrap();
            }
            rpal_rt::time::sleep(Duration::from_millis(5)).await;
            for (i, (_, b)) in pairs.iter_mut().enumerate() {
                let mut got = vec![0u8; BYTES];
                b.read_exact(&mut got).await.unwrap();
                for (j, &x) in got.iter().enumerate() {
                    assert_eq!(x, (i + j) as u8, "socket {i} byte {j}");
                }
            }
        });
    }
}

/// `SocketIo::Adaptive` acts as `Ring` while the worker's ring holds few operations and as
/// `RingPlain` once `LOADED_OPS` or more are in flight, and every byte arrives either way.
#[test]
fn adaptive_follows_the_load_and_moves_the_same_bytes() {
    use rpal_rt::io::uring::{socket_io, socket_io_now, LOADED_OPS};
    let rt = Builder::new_current_thread()
        .uring_socket_io(SocketIo::Adaptive)
        .build()
        .unwrap();
    let uring = rt.driver_kind() == DriverKind::Uring;
    in_task(&rt, async move {
        let expect = |loaded: bool| {
            if !uring {
                SocketIo::Readiness
            } else if loaded {
                SocketIo::RingPlain
            } else {
                SocketIo::Ring
            }
        };
        assert_eq!(
            socket_io(),
            if uring {
                SocketIo::Adaptive
            } else {
                SocketIo::Readiness
            }
        );
        tcp_echo_round_trips(20).await;
        assert_eq!(socket_io_now(), expect(false), "idle worker");

        // Twice LOADED_OPS connections whose servers all wait in a read: that many RECVs in
        // flight on this worker's ring.
        let conns = 2 * LOADED_OPS;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..conns {
            clients.push(TcpStream::connect(addr).await.unwrap());
            let (mut s, _) = listener.accept().await.unwrap();
            servers.push(rpal_rt::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut echoed = 0usize;
                loop {
                    let k = s.read(&mut buf).await.unwrap();
                    if k == 0 {
                        return echoed;
                    }
                    s.write_all(&buf[..k]).await.unwrap();
                    echoed += k;
                }
            }));
        }
        // Let every server task reach its read.
        for _ in 0..4 {
            rpal_rt::task::yield_now().await;
        }
        rpal_rt::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(socket_io_now(), expect(true), "{conns} reads in flight");

        // Every connection echoes at once, under load.
        let rounds = 50usize;
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                rpal_rt::spawn(async move {
                    for r in 0..rounds {
                        let msg = [(i + r) as u8; 100];
                        c.write_all(&msg).await.unwrap();
                        let mut back = [0u8; 100];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg, "connection {i} round {r}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for s in servers {
            assert_eq!(s.await.unwrap(), rounds * 100);
        }
        // Everything closed: one more round trip refreshes the count, and the mode drops back.
        tcp_echo_round_trips(5).await;
        assert_eq!(socket_io_now(), expect(false), "idle again");
    });
}

/// A ring `RECV` asks for at least 4 KiB whatever the caller's buffer: a small read takes the
/// whole message in one operation and the next read is served from what it left, with no
/// further operation.
#[test]
fn a_small_read_leaves_the_rest_of_the_message_for_the_next_read() {
    for mode in [SocketIo::Ring, SocketIo::RingPlain, SocketIo::Adaptive] {
        let rt = Builder::new_current_thread()
            .uring_socket_io(mode)
            .build()
            .unwrap();
        let msg: Vec<u8> = (0..64u8).collect();
        let sent = msg.clone();
        let (a, b, head) = in_task(&rt, async move {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            b.write_all(&sent).await.unwrap();
            let mut head = [0u8; 8];
            a.read_exact(&mut head).await.unwrap();
            (a, b, head)
        });
        let after_head = rt.metrics().ring_ops_submitted_count();
        let rest = in_task(&rt, async move {
            let mut a = a;
            let mut rest = [0u8; 56];
            a.read_exact(&mut rest).await.unwrap();
            drop(b);
            rest
        });
        assert_eq!(&head[..], &msg[..8]);
        assert_eq!(&rest[..], &msg[8..]);
        if rt.driver_kind() == DriverKind::Uring {
            assert!(after_head > 0, "{mode:?}: the first read was no RECV");
            assert_eq!(
                rt.metrics().ring_ops_submitted_count(),
                after_head,
                "{mode:?}: the rest needed another RECV"
            );
        }
    }
}
