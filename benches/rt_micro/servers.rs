//! The echo servers of the load rows, one per runtime, written the same way: accept `conns`
//! connections, spawn one task per connection that reads up to [`ECHO_BUF`] bytes and writes
//! them back until EOF, then wait for every connection task and return.
//!
//! Each runs inside a task on a worker (not in `block_on`'s own future), as a server's tasks do.
//! monoio and compio use their io_uring drivers (owned buffers); rpal is measured on both of
//! its drivers, chosen with `Builder::driver`, in its default socket mode (`SocketIo::Adaptive`
//! on io_uring) and, on io_uring, also in readiness mode and with its owned-buffer operations
//! (that row accepts its connections before the runtime starts, outside the measured window).

use rpal_rt::runtime::DriverKind;

/// Read buffer of every echo connection.
pub(crate) const ECHO_BUF: usize = 4096;

/// One server under test.
#[derive(Clone, Copy)]
pub(crate) enum Server {
    /// rpal current-thread runtime on the given driver.
    RpalCt(DriverKind),
    /// rpal thread-per-core runtime with one worker on the given driver.
    RpalTpc(DriverKind),
    /// rpal current-thread runtime on io_uring with `SocketIo::Readiness` (the default is
    /// `SocketIo::Adaptive`).
    RpalCtReadiness,
    /// rpal current-thread runtime on io_uring, echoing through the owned-buffer operations
    /// (`rpal_rt::io::uring::{recv, send}`), the API shape monoio and compio are measured with.
    RpalCtOwned,
    /// tokio current-thread runtime.
    TokioCt,
    /// tokio multi-thread runtime with one worker.
    TokioMt,
    /// monoio on its io_uring driver.
    Monoio,
    /// compio (io_uring driver).
    Compio,
    /// The hand-written epoll loop with no runtime (`floor.rs`).
    FloorEpoll,
    /// The hand-written io_uring loop with no runtime (`floor.rs`).
    FloorUring,
}

impl Server {
    /// Every server, in table order.
    pub(crate) const ALL: [Server; 12] = [
        Server::RpalCt(DriverKind::Uring),
        Server::RpalCtReadiness,
        Server::RpalCtOwned,
        Server::RpalCt(DriverKind::Epoll),
        Server::RpalTpc(DriverKind::Uring),
        Server::RpalTpc(DriverKind::Epoll),
        Server::TokioCt,
        Server::TokioMt,
        Server::Monoio,
        Server::Compio,
        Server::FloorEpoll,
        Server::FloorUring,
    ];

    /// Row label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Server::RpalCt(DriverKind::Uring) => "rpal ct, uring",
            Server::RpalCt(DriverKind::Epoll) => "rpal ct, epoll",
            Server::RpalTpc(DriverKind::Uring) => "rpal tpc(1), uring",
            Server::RpalTpc(DriverKind::Epoll) => "rpal tpc(1), epoll",
            Server::RpalCtOwned => "rpal ct owned, uring",
            Server::RpalCtReadiness => "rpal ct ready, uring",
            Server::TokioCt => "tokio ct",
            Server::TokioMt => "tokio mt(1)",
            Server::Monoio => "monoio (uring)",
            Server::Compio => "compio (uring)",
            Server::FloorEpoll => "floor: raw epoll",
            Server::FloorUring => "floor: raw uring",
        }
    }

    /// The name in lower case with `-` between words (`rpal-tpc-1-uring`), for `server=`.
    pub(crate) fn key(self) -> String {
        self.name()
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Whether this is one of rpal's rows.
    pub(crate) fn is_rpal(self) -> bool {
        matches!(
            self,
            Server::RpalCt(_) | Server::RpalTpc(_) | Server::RpalCtOwned | Server::RpalCtReadiness
        )
    }

    /// Whether this is one of the hand-written floor servers (no runtime).
    pub(crate) fn is_floor(self) -> bool {
        matches!(self, Server::FloorEpoll | Server::FloorUring)
    }

    /// Serves `conns` connections on `listener` until all have closed (on the calling thread
    /// and the threads its runtime starts).
    pub(crate) fn serve(self, listener: std::net::TcpListener, conns: usize) {
        match self {
            Server::RpalCt(driver) => rpal(
                rpal_rt::runtime::Builder::new_current_thread().driver(driver),
                listener,
                conns,
            ),
            Server::RpalTpc(driver) => rpal(
                rpal_rt::runtime::Builder::new_thread_per_core()
                    .worker_threads(1)
                    .driver(driver),
                listener,
                conns,
            ),
            Server::RpalCtOwned => rpal_owned(listener, conns),
            Server::RpalCtReadiness => rpal(
                rpal_rt::runtime::Builder::new_current_thread()
                    .driver(DriverKind::Uring)
                    .uring_socket_io(rpal_rt::io::uring::SocketIo::Readiness),
                listener,
                conns,
            ),
            Server::TokioCt => tokio(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime"),
                listener,
                conns,
            ),
            Server::TokioMt => tokio(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("tokio runtime"),
                listener,
                conns,
            ),
            Server::Monoio => monoio(listener, conns),
            Server::Compio => compio(listener, conns),
            Server::FloorEpoll => super::floor::epoll(listener, conns),
            Server::FloorUring => super::floor::uring(listener, conns),
        }
    }
}

fn rpal(builder: rpal_rt::runtime::Builder, listener: std::net::TcpListener, conns: usize) {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let rt = builder.build().expect("rpal runtime");
    rt.block_on(async move {
        rpal_rt::spawn(async move {
            let listener = rpal_net::TcpListener::from_std(listener).expect("rpal listener");
            let mut tasks = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (mut s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                tasks.push(rpal_rt::spawn(async move {
                    let mut buf = vec![0u8; ECHO_BUF];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .expect("rpal server task")
    });
}

/// The owned-buffer echo: one `RECV` into the connection's buffer, then `SEND`s of what it
/// received, each awaited (no copy between the kernel's buffer and a caller's).
fn rpal_owned(listener: std::net::TcpListener, conns: usize) {
    use rpal_rt::io::uring;
    use std::sync::Arc;
    let socks: Vec<Arc<std::net::TcpStream>> = (0..conns)
        .map(|_| {
            let (s, _) = listener.accept().expect("accept");
            s.set_nodelay(true).expect("nodelay");
            s.set_nonblocking(true).expect("nonblocking");
            Arc::new(s)
        })
        .collect();
    let rt = rpal_rt::runtime::Builder::new_current_thread()
        .driver(DriverKind::Uring)
        .build()
        .expect("rpal runtime");
    rt.block_on(async move {
        rpal_rt::spawn(async move {
            let tasks: Vec<_> = socks
                .into_iter()
                .map(|s| {
                    rpal_rt::spawn(async move {
                        let mut buf = Vec::with_capacity(ECHO_BUF);
                        'conn: loop {
                            buf.clear();
                            let got = uring::recv(s.clone(), buf)
                                .unwrap_or_else(|_| panic!("not on an io_uring worker"))
                                .await;
                            buf = got.buf;
                            let n = match got.result {
                                Ok(n @ 1..) => n,
                                _ => break,
                            };
                            let mut start = 0;
                            while start < n {
                                let sent = uring::send(s.clone(), buf, start)
                                    .unwrap_or_else(|_| panic!("not on an io_uring worker"))
                                    .await;
                                buf = sent.buf;
                                match sent.result {
                                    Ok(k @ 1..) => start += k,
                                    _ => break 'conn,
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .expect("rpal server task")
    });
}

fn tokio(rt: tokio::runtime::Runtime, listener: std::net::TcpListener, conns: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.block_on(async move {
        tokio::spawn(async move {
            listener.set_nonblocking(true).expect("nonblocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let mut tasks = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (mut s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                tasks.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; ECHO_BUF];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
        .await
        .expect("tokio server task")
    });
}

fn monoio(listener: std::net::TcpListener, conns: usize) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()
        .expect("monoio io_uring runtime");
    rt.block_on(async move {
        monoio::spawn(async move {
            let listener = monoio::net::TcpListener::from_std(listener).expect("monoio listener");
            let mut tasks = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (mut s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                tasks.push(monoio::spawn(async move {
                    let mut buf = Vec::with_capacity(ECHO_BUF);
                    loop {
                        let (res, b) = s.read(buf).await;
                        match res {
                            Ok(1..) => {}
                            _ => break,
                        }
                        let (res, mut b) = s.write_all(b).await;
                        if res.is_err() {
                            break;
                        }
                        b.clear();
                        buf = b;
                    }
                }));
            }
            for t in tasks {
                t.await;
            }
        })
        .await
    });
}

fn compio(listener: std::net::TcpListener, conns: usize) {
    use compio::io::{AsyncRead, AsyncWriteExt};
    let rt = compio::runtime::Runtime::new().expect("compio runtime");
    rt.block_on(async move {
        let server = compio::runtime::spawn(async move {
            let listener = compio::net::TcpListener::from_std(listener).expect("compio listener");
            let mut tasks = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (mut s, _) = listener.accept().await.expect("accept");
                s.set_nodelay(true).expect("nodelay");
                tasks.push(compio::runtime::spawn(async move {
                    let mut buf = Vec::with_capacity(ECHO_BUF);
                    loop {
                        let compio::BufResult(res, b) = s.read(buf).await;
                        match res {
                            Ok(1..) => {}
                            _ => break,
                        }
                        let compio::BufResult(res, mut b) = s.write_all(b).await;
                        if res.is_err() {
                            break;
                        }
                        b.clear();
                        buf = b;
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        let _ = server.await;
    });
}
