//! split()/into_split() of TcpStream and UnixStream (run under RPAL_DRIVER=uring and =epoll):
//! a reader and a writer on one socket progress concurrently (each half waits on its own
//! readiness direction, so neither steals the other's wake-up), owned halves move to different
//! tasks and workers, reunite, and dropping the owned write half shuts the write side down.

mod support;

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{TcpListener, TcpStream, UnixStream};
use support::{each_flavor, pattern, within, Fnv};

/// Enough bytes to fill both socket buffers many times, so reader and writer each park.
const LEN: usize = 4 << 20;

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Echo everything with an owned-split peer on its own task: the peer's read half and write
/// half run in two tasks at once.
async fn echo_owned<S, R, W>(peer_rd: R, peer_wr: W, mut me: S, name: &str)
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
    R: futures::AsyncRead + Unpin + Send + 'static,
    W: futures::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = futures::channel::mpsc::channel::<Vec<u8>>(4);
    let reader = rpal_rt::spawn(async move {
        let mut rd = peer_rd;
        let mut tx = tx;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = rd.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            futures::SinkExt::send(&mut tx, buf[..n].to_vec())
                .await
                .unwrap();
        }
        rd
    });
    let writer = rpal_rt::spawn(async move {
        let mut wr = peer_wr;
        let mut rx = rx;
        while let Some(chunk) = futures::StreamExt::next(&mut rx).await {
            wr.write_all(&chunk).await.unwrap();
        }
        wr.close().await.unwrap();
        wr
    });
    let data = pattern(LEN, 7);
    let (mut my_rd, mut my_wr) = futures::AsyncReadExt::split(&mut me);
    let send = async {
        my_wr.write_all(&data).await.unwrap();
        my_wr.close().await.unwrap();
    };
    let recv = async {
        let mut sum = Fnv::default();
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = my_rd.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            sum.add(&buf[..n]);
            got += n;
        }
        (got, sum.0)
    };
    let ((), (got, sum)) = within(name, futures::future::join(send, recv)).await;
    assert_eq!(got, LEN, "{name}");
    assert_eq!(sum, Fnv::of(&data).0, "{name}");
    within(name, reader).await.unwrap();
    within(name, writer).await.unwrap();
}

#[test]
fn tcp_into_split_echo_across_tasks() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            let (rd, wr) = server.into_split();
            assert_eq!(rd.peer_addr().unwrap(), client.local_addr().unwrap());
            assert_eq!(wr.local_addr().unwrap(), client.peer_addr().unwrap());
            echo_owned(rd, wr, client, name).await;
        });
    }
}

#[test]
fn unix_into_split_echo_across_tasks() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (client, server) = UnixStream::pair().unwrap();
            let (rd, wr) = server.into_split();
            echo_owned(rd, wr, client, name).await;
        });
    }
}

/// Borrowed halves: read and write the same socket concurrently in one task.
#[test]
fn borrowed_split_reads_and_writes_concurrently() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (mut a, mut b) = tcp_pair().await;
            let (mut ua, mut ub) = UnixStream::pair().unwrap();
            // TCP: both ends write LEN bytes and read LEN bytes at the same time.
            let data = pattern(LEN, 3);
            // Called by path: with `futures::AsyncReadExt` in scope, `a.split()` would pick that
            // trait's by-value `split` before the inherent `&mut self` one.
            let (ar, aw) = TcpStream::split(&mut a);
            let (br, bw) = TcpStream::split(&mut b);
            let ((), ()) = within(
                name,
                futures::future::join(pump(ar, aw, &data, name), pump(br, bw, &data, name)),
            )
            .await;
            let (ar, aw) = UnixStream::split(&mut ua);
            let (br, bw) = UnixStream::split(&mut ub);
            within(
                name,
                futures::future::join(pump(ar, aw, &data, name), pump(br, bw, &data, name)),
            )
            .await;
        });
    }
}

/// Writes `data` through `wr` while reading as many bytes through `rd`, checking them.
async fn pump<R, W>(mut rd: R, mut wr: W, data: &[u8], name: &str)
where
    R: futures::AsyncRead + Unpin,
    W: futures::AsyncWrite + Unpin,
{
    let send = async {
        wr.write_all(data).await.unwrap();
    };
    let recv = async {
        let mut got = vec![0u8; data.len()];
        rd.read_exact(&mut got).await.unwrap();
        got
    };
    let ((), got) = futures::future::join(send, recv).await;
    assert!(got == data, "{name}: bytes differ");
}

#[test]
fn reunite_and_mismatch() {
    let rt = support::current_thread();
    rt.block_on(async {
        let (a, _a_peer) = tcp_pair().await;
        let (b, _b_peer) = tcp_pair().await;
        let (ar, aw) = a.into_split();
        let (br, bw) = b.into_split();
        let err = ar.reunite(bw).unwrap_err();
        let rpal_net::tcp::ReuniteError(ar, bw) = err;
        let a = ar.reunite(aw).unwrap();
        let b = br.reunite(bw).unwrap();
        assert!(a.peer_addr().is_ok() && b.peer_addr().is_ok());

        let (u, _u_peer) = UnixStream::pair().unwrap();
        let (ur, uw) = u.into_split();
        assert!(ur.reunite(uw).is_ok());
    });
}

/// Dropping the owned write half sends FIN: the peer reads EOF while the read half still works.
#[test]
fn dropping_owned_write_half_shuts_down_write() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (client, mut server) = tcp_pair().await;
            let (mut rd, wr) = client.into_split();
            drop(wr);
            let mut buf = [0u8; 8];
            assert_eq!(within(name, server.read(&mut buf)).await.unwrap(), 0);
            server.write_all(b"still").await.unwrap();
            rd.read_exact(&mut buf[..5]).await.unwrap();
            assert_eq!(&buf[..5], b"still");

            // forget() drops the write half without shutting the write side down: while the
            // read half keeps the socket open, the peer sees no EOF.
            let (u, mut peer) = UnixStream::pair().unwrap();
            let (urd, uwr) = u.into_split();
            uwr.forget();
            let pending = futures::poll!(Box::pin(peer.read(&mut buf)));
            drop(urd);
            assert!(pending.is_pending(), "{name}: forget() must not shut down");
        });
    }
}

#[test]
fn tcp_socket_options() {
    let rt = support::current_thread();
    rt.block_on(async {
        let (c, _s) = tcp_pair().await;
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_linger(Some(std::time::Duration::from_secs(3)))
            .unwrap();
        assert_eq!(c.linger().unwrap(), Some(std::time::Duration::from_secs(3)));
        c.set_linger(None).unwrap();
        assert_eq!(c.linger().unwrap(), None);
        c.set_ttl(42).unwrap();
        assert_eq!(c.ttl().unwrap(), 42);
        c.set_recv_buffer_size(64 << 10).unwrap();
        assert!(c.recv_buffer_size().unwrap() >= 64 << 10);
        c.set_send_buffer_size(64 << 10).unwrap();
        assert!(c.send_buffer_size().unwrap() >= 64 << 10);
        assert!(c.take_error().unwrap().is_none());
    });
}

#[test]
fn tcp_peek_does_not_consume() {
    let rt = support::current_thread();
    rt.block_on(async {
        let (mut c, mut s) = tcp_pair().await;
        c.write_all(b"peek").await.unwrap();
        let mut buf = [0u8; 4];
        let n = within("peek", s.peek(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], &b"peek"[..n]);
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"peek");
    });
}
