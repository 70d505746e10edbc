//! A thousand RpalStreams open at once in one process, each exchanging a few checksummed
//! messages, while the same worker(s) also serve plain TCP and Unix echo clients. One variant
//! runs everything on one thread (current-thread runtime), the other on two workers.
//!
//! Rings are the smallest allowed (4 KiB) so the test stays modest in memory; messages stay under
//! the ring size so an echo of a message never needs the client to read before it finished
//! writing.

mod support;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::unix::{UnixListener, UnixStream};
use rpal_net::{RpalConfig, RpalListener, RpalStream, TcpListener, TcpStream};
use rpal_rt::Runtime;
use support::{within, within_for, Fnv, SockPath, XorShift};

const STREAMS: usize = 1000;
/// Concurrent connects per wave (well under any listen backlog).
const WAVE: usize = 50;
const MESSAGES: usize = 4;
const PLAIN_CLIENTS: usize = 50;
const RING: usize = 4096;

/// One message: pseudo-random payload of 1..=3000 bytes followed by its FNV checksum.
fn message(rng: &mut XorShift) -> Vec<u8> {
    let n = rng.range(1, 3000);
    let mut m = vec![0u8; n + 8];
    rng.fill(&mut m[..n]);
    let sum = Fnv::of(&m[..n]).0;
    m[n..].copy_from_slice(&sum.to_le_bytes());
    m
}

/// Sends `MESSAGES` messages and checks each echo, by bytes and by the embedded checksum.
async fn exchange<S>(s: &mut S, seed: u64) -> io::Result<u64>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut rng = XorShift(seed | 1);
    let mut total = 0;
    for _ in 0..MESSAGES {
        let m = message(&mut rng);
        s.write_all(&m).await?;
        let mut back = vec![0u8; m.len()];
        s.read_exact(&mut back).await?;
        let n = back.len() - 8;
        let sum = u64::from_le_bytes(back[n..].try_into().unwrap());
        if back != m || Fnv::of(&back[..n]).0 != sum {
            return Err(io::Error::other(format!("seed {seed}: echo mismatch")));
        }
        total += m.len() as u64;
        // Let the other streams interleave with this one.
        rpal_rt::yield_now().await;
    }
    Ok(total)
}

fn run(rt: Runtime, tag: &str) {
    support::raise_nofile(16 * STREAMS as u64 + 1024);
    rt.block_on(async {
        let cfg = RpalConfig::default().ring_capacity(RING);
        let path = SockPath::new(tag);
        let listener = RpalListener::bind_with(path.path(), cfg.clone()).unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let shm_served = Arc::new(AtomicUsize::new(0));
        {
            let (served, shm_served) = (served.clone(), shm_served.clone());
            rpal_rt::spawn(async move {
                loop {
                    let (s, _) = match listener.accept().await {
                        Ok(x) => x,
                        Err(e) => panic!("RpalListener::accept failed: {e}"),
                    };
                    if s.is_shared_memory() {
                        shm_served.fetch_add(1, Ordering::Relaxed);
                    }
                    let served = served.clone();
                    rpal_rt::spawn(async move {
                        if support::echo(s).await.is_ok() {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            });
        }

        // Plain sockets on the same runtime.
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        rpal_rt::spawn(async move {
            while let Ok((s, _)) = tcp.accept().await {
                rpal_rt::spawn(support::echo(s));
            }
        });
        let upath = SockPath::new(&format!("{tag}-plain"));
        let ul = UnixListener::bind(upath.path()).unwrap();
        rpal_rt::spawn(async move {
            while let Ok((s, _)) = ul.accept().await {
                rpal_rt::spawn(support::echo(s));
            }
        });

        // Open all RPAL streams first (in waves of concurrent connects), so all are open at once.
        let mut streams = Vec::with_capacity(STREAMS);
        for wave in 0..STREAMS.div_ceil(WAVE) {
            let tasks: Vec<_> = (0..WAVE.min(STREAMS - wave * WAVE))
                .map(|_| {
                    let p = path.path().to_path_buf();
                    let cfg = cfg.clone();
                    rpal_rt::spawn(async move { RpalStream::connect_with(&p, &cfg).await })
                })
                .collect();
            for t in tasks {
                let s = within("connect", t).await.unwrap().unwrap_or_else(|e| {
                    panic!("connect #{} failed: {e} ({:?})", streams.len(), e.kind())
                });
                assert!(s.is_shared_memory(), "stream #{} fell back", streams.len());
                streams.push(s);
            }
        }
        assert_eq!(streams.len(), STREAMS);

        // Exchange on all of them, and on plain TCP/Unix clients, at the same time.
        let mut tasks = Vec::new();
        for (i, mut s) in streams.into_iter().enumerate() {
            tasks.push(rpal_rt::spawn(async move {
                let n = exchange(&mut s, i as u64 + 1).await?;
                s.close().await?;
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).await?;
                if !rest.is_empty() {
                    return Err(io::Error::other("bytes after the last echo"));
                }
                io::Result::Ok(n)
            }));
        }
        let mut plain = Vec::new();
        for i in 0..PLAIN_CLIENTS {
            plain.push(rpal_rt::spawn(async move {
                let mut t = TcpStream::connect(tcp_addr).await?;
                exchange(&mut t, 10_000 + i as u64).await
            }));
            let up = upath.path().to_path_buf();
            plain.push(rpal_rt::spawn(async move {
                let mut u = UnixStream::connect(&up).await?;
                exchange(&mut u, 20_000 + i as u64).await
            }));
        }
        let mut bytes = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            bytes += within_for(support::LIMIT * 3, "rpal exchange", t)
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("rpal stream #{i}: {e}"));
        }
        for (i, t) in plain.into_iter().enumerate() {
            within("plain exchange", t)
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("plain client #{i}: {e}"));
        }
        // Every server-side echo ends once its client closed.
        for _ in 0..2000 {
            if served.load(Ordering::Relaxed) == STREAMS {
                break;
            }
            rpal_rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(served.load(Ordering::Relaxed), STREAMS, "server-side echoes finished");
        assert_eq!(shm_served.load(Ordering::Relaxed), STREAMS, "server-side shared memory");
        eprintln!("{tag}: {STREAMS} rpal streams, {bytes} bytes each way, plus {PLAIN_CLIENTS} TCP + {PLAIN_CLIENTS} Unix clients");
    });
}

#[test]
fn thousand_streams_one_thread() {
    run(support::current_thread(), "many-ct");
}

#[test]
fn thousand_streams_thread_per_core() {
    run(support::thread_per_core(2), "many-tpc");
}
