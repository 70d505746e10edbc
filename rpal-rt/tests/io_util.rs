//! io::util on real sockets: copy, copy_bidirectional through a proxy, split, BufReader.

mod support;

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use rpal_rt::io::util::{
    copy, copy_bidirectional, split, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader,
};
use rpal_rt::io::{Interest, Registration};

/// A minimal async Unix stream over `Registration` (rpal-net's is not a dependency here).
struct Sock {
    reg: Registration,
    s: UnixStream,
}

impl Sock {
    fn new(s: UnixStream) -> Sock {
        s.set_nonblocking(true).unwrap();
        let reg = Registration::new(s.as_raw_fd(), Interest::BOTH).unwrap();
        Sock { reg, s }
    }
}

/// Two connected `Sock`s (call inside the runtime).
fn pair() -> (Sock, Sock) {
    let (a, b) = UnixStream::pair().unwrap();
    (Sock::new(a), Sock::new(b))
}

impl futures::AsyncRead for Sock {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.reg
            .poll_io(cx, Interest::READABLE, || (&this.s).read(buf))
    }
}

impl futures::AsyncWrite for Sock {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.reg
            .poll_io(cx, Interest::WRITABLE, || (&this.s).write(buf))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.s.shutdown(std::net::Shutdown::Write))
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn copy_moves_everything_until_eof() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            rpal_rt::spawn(async {
                let (mut a, mut b) = pair();
                let data = pattern(300_000, 1);
                let sent = data.clone();
                let writer = rpal_rt::spawn(async move {
                    a.write_all(&sent).await.unwrap();
                    a.close().await.unwrap();
                });
                let mut out = Vec::new();
                let n = copy(&mut b, &mut out).await.unwrap();
                writer.await.unwrap();
                assert_eq!(n, data.len() as u64);
                assert!(out == data);
            })
            .await
            .unwrap();
        });
    }
}

#[test]
fn copy_bidirectional_proxies_both_ways_and_passes_eof_on() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            rpal_rt::spawn(async {
                // client <-> (p1 | proxy | p2) <-> server
                let (mut client, mut p1) = pair();
                let (mut p2, mut server) = pair();
                let proxy =
                    rpal_rt::spawn(async move { copy_bidirectional(&mut p1, &mut p2).await });
                let request = pattern(200_000, 3);
                let reply = pattern(150_000, 7);
                let srv = {
                    let (request, reply) = (request.clone(), reply.clone());
                    rpal_rt::spawn(async move {
                        let mut got = Vec::new();
                        server.read_to_end(&mut got).await.unwrap(); // EOF passed on by the proxy
                        assert!(got == request);
                        server.write_all(&reply).await.unwrap();
                        server.close().await.unwrap();
                    })
                };
                // The server replies only after EOF, so writing all first cannot deadlock.
                client.write_all(&request).await.unwrap();
                client.close().await.unwrap();
                let mut back = Vec::new();
                client.read_to_end(&mut back).await.unwrap();
                assert!(back == reply);
                srv.await.unwrap();
                let (ab, ba) = proxy.await.unwrap().unwrap();
                assert_eq!((ab, ba), (request.len() as u64, reply.len() as u64));
            })
            .await
            .unwrap();
        });
    }
}

#[test]
fn split_halves_work_concurrently() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            rpal_rt::spawn(async {
                let (a, mut b) = pair();
                let (mut ra, mut wa) = split(a);
                let echo = rpal_rt::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = b.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        b.write_all(&buf[..n]).await.unwrap();
                    }
                    b.close().await.unwrap();
                });
                let data = pattern(100_000, 9);
                let (_, echoed) = rpal_rt::join!(
                    async {
                        wa.write_all(&data).await.unwrap();
                        wa.close().await.unwrap();
                    },
                    async {
                        let mut got = Vec::new();
                        ra.read_to_end(&mut got).await.unwrap();
                        got
                    }
                );
                assert!(echoed == data);
                echo.await.unwrap();
                let _whole = ra.reunite(wa).unwrap();
            })
            .await
            .unwrap();
        });
    }
}

#[test]
fn buf_reader_reads_lines_from_a_socket() {
    let rt = support::current_thread();
    rt.block_on(async {
        let (mut a, b) = pair();
        a.write_all(b"first\nsecond\n").await.unwrap();
        a.close().await.unwrap();
        let mut lines = BufReader::new(b).lines();
        let mut got = Vec::new();
        while let Some(line) = futures::StreamExt::next(&mut lines).await {
            got.push(line.unwrap());
        }
        assert_eq!(got, ["first", "second"]);
    });
}
