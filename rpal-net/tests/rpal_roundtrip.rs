//! RpalStream round trips between two tasks of one process, on both runtime flavours: sizes from
//! 0 B to 16 MiB (far bigger than the ring, so the writer waits for room many times) with a
//! checksum compared on both sides, the zero-copy `AsyncBufRead` path, half-close, `into_split`
//! with the halves on different tasks, and peer credentials.

mod support;

use std::io;

use futures::channel::mpsc;
use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use rpal_net::unix::UnixAddr;
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::{each_flavor, pattern, within, Fnv, SockPath};

/// What the server side of one connection saw.
#[derive(Debug)]
struct Report {
    shared_memory: bool,
    echoed: u64,
    sum: Fnv,
    peer_pid: i32,
    peer_uid: u32,
}

/// Accepts forever; echoes each connection and reports what it saw.
fn serve_echo(listener: RpalListener) -> mpsc::UnboundedReceiver<io::Result<Report>> {
    let (tx, rx) = mpsc::unbounded();
    rpal_rt::spawn(async move {
        loop {
            let (s, _) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.unbounded_send(Err(e));
                    return;
                }
            };
            let tx = tx.clone();
            rpal_rt::spawn(async move {
                let shared_memory = s.is_shared_memory();
                let cred = s.peer_cred();
                let r = support::echo(s).await.and_then(|(echoed, sum)| {
                    let cred = cred?;
                    Ok(Report {
                        shared_memory,
                        echoed,
                        sum,
                        peer_pid: cred.pid,
                        peer_uid: cred.uid,
                    })
                });
                let _ = tx.unbounded_send(r);
            });
        }
    });
    rx
}

/// Sends `data` from a writer task while this task reads the echo; checks length and checksum on
/// both sides.
async fn round_trip(
    path: &SockPath,
    reports: &mut mpsc::UnboundedReceiver<io::Result<Report>>,
    data: Vec<u8>,
) {
    let len = data.len();
    let want = Fnv::of(&data);
    let s = within("connect", RpalStream::connect(path.path()))
        .await
        .unwrap();
    assert!(
        s.is_shared_memory(),
        "client of an RpalListener must get shared memory"
    );
    let cred = s.peer_cred().unwrap();
    assert_eq!(cred.pid, std::process::id() as i32);
    assert_eq!(cred.uid, support::uid());

    let (mut r, mut w) = s.into_split();
    let writer = rpal_rt::spawn(async move {
        // Uneven chunks so the ring wraps at odd offsets.
        let mut off = 0;
        let mut step = 1;
        while off < data.len() {
            let end = (off + step).min(data.len());
            w.write_all(&data[off..end]).await?;
            off = end;
            step = (step * 3 + 7) % (300 * 1024) + 1;
        }
        w.close().await?;
        io::Result::Ok(w)
    });

    let mut got = 0usize;
    let mut sum = Fnv::default();
    let mut buf = vec![0u8; 48 * 1024 + 5];
    loop {
        let n = within("client read", r.read(&mut buf)).await.unwrap();
        if n == 0 {
            break;
        }
        sum.add(&buf[..n]);
        got += n;
        assert!(got <= len, "echo longer than what was sent: {got} > {len}");
    }
    let _w = within("writer task", writer).await.unwrap().unwrap();
    assert_eq!(got, len, "echo length");
    assert_eq!(sum, want, "client-side checksum of {len} bytes");

    let rep = within("server report", reports.next())
        .await
        .expect("server gone")
        .unwrap();
    assert!(
        rep.shared_memory,
        "server side of an RPAL client must be shared memory"
    );
    assert_eq!(rep.echoed, len as u64, "server-side length");
    assert_eq!(rep.sum, want, "server-side checksum of {len} bytes");
    assert_eq!(rep.peer_pid, std::process::id() as i32);
    assert_eq!(rep.peer_uid, support::uid());
}

const SIZES: [usize; 9] = [0, 1, 31, 32, 4095, 4096, 65537, 1 << 20, 16 << 20];

#[test]
fn sizes_0_to_16mib_with_checksums() {
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-sizes");
            let listener = RpalListener::bind(path.path()).unwrap();
            let mut reports = serve_echo(listener);
            for (i, &size) in SIZES.iter().enumerate() {
                eprintln!("  {size} bytes");
                round_trip(&path, &mut reports, pattern(size, i as u64 + 1)).await;
            }
        });
    }
}

#[test]
fn small_ring_many_wraps() {
    // The smallest ring: 1 MiB wraps it 256 times each way.
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-small");
            let cfg = RpalConfig::default().ring_capacity(4096);
            let listener = RpalListener::bind_with(path.path(), cfg).unwrap();
            let mut reports = serve_echo(listener);
            for size in [4095, 4097, 1 << 20] {
                round_trip(&path, &mut reports, pattern(size, 99)).await;
            }
        });
    }
}

#[test]
fn abstract_address() {
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let name = support::abstract_name("rt-abs");
            let listener = RpalListener::bind(UnixAddr::Abstract(&name)).unwrap();
            let server = rpal_rt::spawn(async move {
                let (s, _) = listener.accept().await?;
                assert!(s.is_shared_memory());
                support::echo(s).await
            });
            let mut c = within("connect", RpalStream::connect(UnixAddr::Abstract(&name)))
                .await
                .unwrap();
            assert!(c.is_shared_memory());
            c.write_all(b"abstract hello").await.unwrap();
            c.close().await.unwrap();
            let mut back = Vec::new();
            within("read echo", c.read_to_end(&mut back)).await.unwrap();
            assert_eq!(back, b"abstract hello");
            let (n, _) = within("server", server).await.unwrap().unwrap();
            assert_eq!(n, 14);
        });
    }
}

/// The server streams 16 MiB; the client reads it with `fill_buf`/`consume` (bytes lent in place
/// in the ring), consuming uneven amounts, and checks the checksum and the stats.
#[test]
fn buf_read_zero_copy_large_transfer() {
    const LEN: usize = 16 << 20;
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-bufread");
            let listener = RpalListener::bind(path.path()).unwrap();
            let data = pattern(LEN, 7);
            let want = Fnv::of(&data);
            let server = rpal_rt::spawn(async move {
                let (mut s, _) = listener.accept().await?;
                assert!(s.is_shared_memory());
                for chunk in data.chunks(100_003) {
                    s.write_all(chunk).await?;
                }
                s.close().await?;
                // Keep the stream until the client confirms it read everything.
                let mut ack = [0u8; 2];
                s.read_exact(&mut ack).await?;
                assert_eq!(&ack, b"ok");
                io::Result::Ok(s.stats())
            });

            let mut c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            assert!(c.is_shared_memory());
            let mut sum = Fnv::default();
            let mut got = 0usize;
            let mut lends = 0u64;
            let mut odd = 1usize;
            loop {
                let buf = within("fill_buf", c.fill_buf()).await.unwrap();
                if buf.is_empty() {
                    break;
                }
                lends += 1;
                // Consume a part, sometimes all, of what was lent.
                odd = (odd * 7 + 13) % 9973 + 1;
                let take = if lends.is_multiple_of(3) {
                    buf.len()
                } else {
                    buf.len().min(odd)
                };
                sum.add(&buf[..take]);
                got += take;
                c.consume_unpin(take);
            }
            assert_eq!(got, LEN);
            assert_eq!(sum, want, "checksum of the zero-copy read");
            // A second fill_buf at end of stream stays empty.
            assert!(within("fill_buf at EOF", c.fill_buf())
                .await
                .unwrap()
                .is_empty());
            let cs = c.stats();
            assert_eq!(cs.bytes_read, LEN as u64, "client stats {cs:?}");
            c.write_all(b"ok").await.unwrap();
            let ss = within("server", server).await.unwrap().unwrap();
            assert_eq!(ss.bytes_written, LEN as u64, "server stats {ss:?}");
            assert_eq!(ss.bytes_read, 2, "server stats {ss:?}");
            eprintln!("  {lends} lends; client {cs:?}; server {ss:?}");
        });
    }
}

/// `poll_close` is a half-close: the server reads the request then end of stream, and can still
/// answer; the client reads the whole answer then end of stream.
#[test]
fn half_close_then_reply() {
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-half");
            let listener = RpalListener::bind(path.path()).unwrap();
            let server = rpal_rt::spawn(async move {
                let (mut s, _) = listener.accept().await?;
                let mut req = Vec::new();
                s.read_to_end(&mut req).await?;
                assert_eq!(req, b"request: please answer after my EOF");
                // End of stream is sticky.
                let mut one = [0u8; 1];
                assert_eq!(s.read(&mut one).await?, 0);
                let reply = pattern(300_000, 5);
                s.write_all(b"reply:").await?;
                s.write_all(&reply).await?;
                s.close().await?;
                io::Result::Ok(())
            });
            let mut c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            c.write_all(b"request: please answer after my EOF")
                .await
                .unwrap();
            within("close", c.close()).await.unwrap();
            let mut back = Vec::new();
            within("read reply", c.read_to_end(&mut back))
                .await
                .unwrap();
            assert_eq!(&back[..6], b"reply:");
            assert_eq!(&back[6..], &pattern(300_000, 5)[..]);
            within("server", server).await.unwrap().unwrap();
        });
    }
}

/// `try_read` never waits: WouldBlock on an empty stream, data once some arrived, 0 at EOF.
#[test]
fn try_read_would_block_then_data_then_eof() {
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-try");
            let listener = RpalListener::bind(path.path()).unwrap();
            let (mut c, mut s) =
                support::connect_accept(&listener, path.path(), &RpalConfig::default()).await;
            let mut buf = [0u8; 16];
            let e = s.try_read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            c.write_all(b"abc").await.unwrap();
            c.flush().await.unwrap();
            // The bytes are in shared memory as soon as write returns; allow a few yields in
            // case the implementation publishes lazily.
            let mut n = None;
            for _ in 0..1000 {
                match s.try_read(&mut buf) {
                    Ok(k) => {
                        n = Some(k);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => rpal_rt::yield_now().await,
                    Err(e) => panic!("try_read: {e}"),
                }
            }
            assert_eq!(n, Some(3));
            assert_eq!(&buf[..3], b"abc");
            c.close().await.unwrap();
            let mut eof = None;
            for _ in 0..1000 {
                match s.try_read(&mut buf) {
                    Ok(k) => {
                        eof = Some(k);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => rpal_rt::yield_now().await,
                    Err(e) => panic!("try_read: {e}"),
                }
            }
            assert_eq!(eof, Some(0), "try_read after the peer's close");
        });
    }
}

/// `into_split` on both ends, each half in its own task; on the thread-per-core runtime the four
/// tasks are spread over both workers, so halves of one stream are used from different threads.
#[test]
fn split_halves_on_different_tasks_and_workers() {
    const LEN: usize = 4 << 20;
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        let handle = rt.handle();
        rt.block_on(async {
            let path = SockPath::new("rt-split");
            let listener = RpalListener::bind(path.path()).unwrap();
            let (c, s) =
                support::connect_accept(&listener, path.path(), &RpalConfig::default()).await;
            let (mut cr, mut cw) = c.into_split();
            let (mut sr, mut sw) = s.into_split();
            let up = pattern(LEN, 11);
            let down = pattern(LEN + 17, 12);
            let (up_sum, down_sum) = (Fnv::of(&up), Fnv::of(&down));

            // Four independent tasks: client->server and server->client at the same time.
            let t_cw = handle.spawn_on(0, async move {
                for c in up.chunks(77_777) {
                    cw.write_all(c).await?;
                }
                cw.close().await?;
                io::Result::Ok(())
            });
            let t_sw = handle.spawn_on(1, async move {
                for c in down.chunks(65_536) {
                    sw.write_all(c).await?;
                }
                sw.close().await?;
                io::Result::Ok(())
            });
            let t_sr = handle.spawn_on(0, async move {
                let mut sum = Fnv::default();
                let mut n = 0;
                loop {
                    let buf = sr.fill_buf().await?;
                    if buf.is_empty() {
                        return io::Result::Ok((n, sum));
                    }
                    let k = buf.len();
                    sum.add(buf);
                    n += k;
                    sr.consume_unpin(k);
                }
            });
            let t_cr = handle.spawn_on(1, async move {
                let mut all = Vec::new();
                cr.read_to_end(&mut all).await?;
                io::Result::Ok((all.len(), Fnv::of(&all)))
            });
            within("client writer", t_cw).await.unwrap().unwrap();
            within("server writer", t_sw).await.unwrap().unwrap();
            assert_eq!(
                within("server reader", t_sr).await.unwrap().unwrap(),
                (LEN, up_sum)
            );
            assert_eq!(
                within("client reader", t_cr).await.unwrap().unwrap(),
                (LEN + 17, down_sum)
            );
        });
    }
}

/// Many connections one after the other, each dropped without a close: the listener keeps
/// serving and a dropped peer reads as end of stream (or an error), never a hang.
#[test]
fn drop_without_close_then_more_clients() {
    for (flavor, rt) in each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("rt-drop");
            let listener = RpalListener::bind(path.path()).unwrap();
            for i in 0..20u8 {
                let (mut c, mut s) =
                    support::connect_accept(&listener, path.path(), &RpalConfig::default()).await;
                c.write_all(&[i; 10]).await.unwrap();
                drop(c);
                let mut got = Vec::new();
                let r = within("read after peer drop", s.read_to_end(&mut got)).await;
                match r {
                    Ok(_) => assert_eq!(got, [i; 10], "data before EOF"),
                    Err(e) => assert!(
                        matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset
                                | io::ErrorKind::UnexpectedEof
                                | io::ErrorKind::BrokenPipe
                        ),
                        "unexpected error kind after peer drop: {e:?}"
                    ),
                }
            }
        });
    }
}

/// A server busy with its first client (not inside `accept`) still completes the handshakes of
/// the next clients: admission runs in the listener's own task.
#[test]
fn handshakes_complete_while_the_server_is_busy() {
    for (flavor, rt) in support::each_flavor() {
        rt.block_on(support::within(flavor, async {
            let name = support::abstract_name("busy");
            let l = RpalListener::bind(UnixAddr::Abstract(&name)).unwrap();
            let first = RpalStream::connect(UnixAddr::Abstract(&name));
            let (first, accepted) = futures::join!(first, l.accept());
            let (_first, _accepted) = (first.unwrap(), accepted.unwrap());
            // No accept() is running now; these connects must still finish their handshakes.
            let cfg = RpalConfig::default().handshake_timeout(std::time::Duration::from_secs(3));
            let mut later = Vec::new();
            for _ in 0..3 {
                let c = RpalStream::connect_with(UnixAddr::Abstract(&name), &cfg)
                    .await
                    .unwrap();
                assert!(c.is_shared_memory(), "{flavor}");
                later.push(c);
            }
            for mut c in later {
                let (mut s, _) = l.accept().await.unwrap();
                c.write_all(b"hi").await.unwrap();
                let mut b = [0u8; 2];
                s.read_exact(&mut b).await.unwrap();
                assert_eq!(&b, b"hi");
            }
        }));
    }
}
