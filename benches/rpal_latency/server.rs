//! The server process: receives the client's messages on the mode's data channel, stamps each
//! on arrival (one-way latency = receive TSC - send TSC), answers on the plain Unix answer socket
//! it inherited, and prints a `SUMMARY` line on stdout when the last message is in.
//!
//! Started by the client as `<bench> --server MODE PATH --answer-fd N --messages N --warmup N
//! [--pin-cpu N] [--ring-fd N]`.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crate::common::{
    pin, tsc, Mode, Msg, Recorder, Summary, FLOOR_RING_CAPACITY, MSG_LEN, PEER_CHECK_INTERVAL,
    READY,
};

/// The server's command line.
struct Args {
    mode: Mode,
    path: String,
    answer_fd: RawFd,
    total: u64,
    warmup: u64,
    pin_cpu: Option<usize>,
    ring_fd: Option<RawFd>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mode, path) = match args {
        [m, p, ..] => (
            Mode::parse(m).ok_or_else(|| format!("unknown mode {m}"))?,
            p.clone(),
        ),
        _ => return Err("usage: --server MODE PATH --answer-fd N ...".into()),
    };
    let mut a = Args {
        mode,
        path,
        answer_fd: -1,
        total: 0,
        warmup: 0,
        pin_cpu: None,
        ring_fd: None,
    };
    let mut it = args[2..].iter();
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{k} {v}: {e}"));
        match k.as_str() {
            "--answer-fd" => a.answer_fd = num(v)? as RawFd,
            "--messages" => a.total = num(v)?,
            "--warmup" => a.warmup = num(v)?,
            "--pin-cpu" => a.pin_cpu = Some(num(v)? as usize),
            "--ring-fd" => a.ring_fd = Some(num(v)? as RawFd),
            _ => return Err(format!("unknown server option {k}")),
        }
    }
    if a.answer_fd < 0 || a.total == 0 {
        return Err("--answer-fd and --messages are required".into());
    }
    Ok(a)
}

/// Entry point of the server process; never returns.
pub(crate) fn main(args: &[String]) -> ! {
    let code = match parse(args).map_err(io::Error::other).and_then(run) {
        Ok(s) => {
            println!("{}", s.to_line());
            0
        }
        Err(e) => {
            eprintln!("rpal_latency server: {e}");
            2
        }
    };
    std::process::exit(code)
}

fn run(a: Args) -> io::Result<Summary> {
    if let Some(cpu) = a.pin_cpu {
        pin(cpu)?;
    }
    // SAFETY: the client left this fd open for us (it cleared FD_CLOEXEC on a duplicate) and
    // nothing else in this process owns it.
    let answer = unsafe { UnixStream::from_raw_fd(a.answer_fd) };
    let mut s = Server {
        answer,
        rec: Recorder::new(a.warmup)?,
        total: a.total,
    };
    match a.mode {
        Mode::UnixEpoll => s.unix_epoll(&a.path),
        Mode::TokioUnix => s.tokio_unix(&a.path),
        Mode::RpalSpin => s.rpal(&a.path, true),
        Mode::RpalPark => s.rpal(&a.path, false),
        Mode::RingFloor => {
            let fd = a
                .ring_fd
                .ok_or_else(|| io::Error::other("ring-floor needs --ring-fd"))?;
            // SAFETY: as for the answer fd: inherited from the client for us alone.
            s.ring_floor(unsafe { OwnedFd::from_raw_fd(fd) })
        }
    }
}

/// The per-message work every mode shares.
struct Server {
    answer: UnixStream,
    rec: Recorder,
    total: u64,
}

impl Server {
    fn ready(&mut self) -> io::Result<()> {
        self.answer.write_all(&[READY])
    }

    /// Records `msg` (received at TSC `now`) and answers it.
    fn handle(&mut self, msg: &Msg, now: u64) -> io::Result<()> {
        self.rec.on_message(msg, now)?;
        self.answer.write_all(msg)
    }

    /// True once the client has gone (its end of the answer socket hung up): a busy-polling
    /// server checks this now and then so it never spins forever after a client crash.
    fn client_gone(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.answer.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        // The client never writes on the answer socket: any event means it hung up.
        r > 0 && p.revents != 0
    }

    /// (a) C-style: raw socket, level-triggered epoll, `epoll_wait` then `read` per message.
    fn unix_epoll(&mut self, path: &str) -> io::Result<Summary> {
        let listener = sys::listen_unix(path)?;
        self.ready()?;
        let conn = sys::accept_nonblocking(&listener)?;
        let ep = sys::epoll_for_read(&conn)?;
        let mut msg: Msg = [0; MSG_LEN];
        for _ in 0..self.total {
            let mut got = 0;
            while got < MSG_LEN {
                sys::epoll_wait_one(&ep)?;
                got += sys::read_some(&conn, &mut msg[got..])?;
            }
            let now = tsc();
            self.handle(&msg, now)?;
        }
        Ok(self.rec.summary(0, 0))
    }

    /// (b) tokio current-thread runtime, `tokio::net::UnixStream::read_exact`.
    fn tokio_unix(&mut self, path: &str) -> io::Result<Summary> {
        use tokio::io::AsyncReadExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let listener = tokio::net::UnixListener::bind(path)?;
            self.ready()?;
            let (mut conn, _) = listener.accept().await?;
            let mut msg: Msg = [0; MSG_LEN];
            for _ in 0..self.total {
                conn.read_exact(&mut msg).await?;
                let now = tsc();
                self.handle(&msg, now)?;
            }
            Ok(self.rec.summary(0, 0))
        })
    }

    /// (c) and (d): RpalStream inside an rpal current-thread runtime task; `spin` busy-polls
    /// `try_read`, else awaits `read_exact` with `RpalConfig::spin(false)` (parks at once).
    fn rpal(mut self, path: &str, spin: bool) -> io::Result<Summary> {
        use futures::AsyncReadExt;
        let rt = rpal_rt::Runtime::new_current_thread()?;
        let cfg = rpal_net::RpalConfig::default().spin(spin);
        rt.block_on(async move {
            let listener = rpal_net::RpalListener::bind_with(path, cfg)?;
            self.ready()?;
            let (mut conn, _) = listener.accept().await?;
            if !conn.is_shared_memory() {
                return Err(io::Error::other(
                    "the RpalStream fell back to the Unix socket; expected shared memory",
                ));
            }
            let task = rpal_rt::spawn_local(async move {
                let mut msg: Msg = [0; MSG_LEN];
                for _ in 0..self.total {
                    if spin {
                        let mut got = 0;
                        let mut idle = 0u64;
                        while got < MSG_LEN {
                            match conn.try_read(&mut msg[got..]) {
                                Ok(0) => return Err(eof()),
                                Ok(n) => got += n,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    idle += 1;
                                    if idle.is_multiple_of(PEER_CHECK_INTERVAL)
                                        && self.client_gone()
                                    {
                                        return Err(eof());
                                    }
                                    std::hint::spin_loop();
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    } else {
                        conn.read_exact(&mut msg).await?;
                    }
                    let now = tsc();
                    self.handle(&msg, now)?;
                }
                let st = conn.stats();
                Ok(self.rec.summary(st.doorbells_sent, st.parks))
            });
            task.await.map_err(io::Error::from)?
        })
    }

    /// (e) the raw ring in the memfd the client created; busy-polls `Consumer::read`.
    fn ring_floor(&mut self, fd: OwnedFd) -> io::Result<Summary> {
        use rpal_net::rpal::error::RingError;
        use rpal_net::rpal::ring::{Consumer, RegionLayout};
        use rpal_net::rpal::shm::SharedRegion;
        let l = RegionLayout::new(FLOOR_RING_CAPACITY).map_err(io::Error::from)?;
        let region = Arc::new(SharedRegion::from_fd(fd, l.region_len, None)?);
        let mut rx = Consumer::new(&region, l.offsets[0], l.ring_len).map_err(io::Error::from)?;
        self.ready()?;
        let mut msg: Msg = [0; MSG_LEN];
        let mut idle = 0u64;
        for _ in 0..self.total {
            let mut got = 0;
            while got < MSG_LEN {
                match rx.read(&mut msg[got..]) {
                    Ok(0) => return Err(eof()),
                    Ok(n) => got += n,
                    Err(RingError::WouldBlock) => {
                        idle += 1;
                        if idle.is_multiple_of(PEER_CHECK_INTERVAL) && self.client_gone() {
                            return Err(eof());
                        }
                        std::hint::spin_loop();
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let now = tsc();
            self.handle(&msg, now)?;
        }
        Ok(self.rec.summary(0, 0))
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the client closed the data channel before the last message",
    )
}

/// The libc calls of the C-style baseline, each checked.
mod sys {
    use super::*;

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// `socket` + `bind` + `listen` on a filesystem path.
    pub(super) fn listen_unix(path: &str) -> io::Result<OwnedFd> {
        // SAFETY: an all-zero sockaddr_un is valid (AF_UNSPEC, empty path).
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        if path.len() >= addr.sun_path.len() {
            return Err(io::Error::other(format!("socket path too long: {path}")));
        }
        for (d, s) in addr.sun_path.iter_mut().zip(path.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: plain socket(2); the result is checked.
        let raw =
            cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: socket just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_un of `len` bytes that outlives the call.
        cvt(unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_un).cast(), len) })?;
        // SAFETY: plain listen(2) on our socket.
        cvt(unsafe { libc::listen(raw, 1) })?;
        Ok(fd)
    }

    /// Blocking `accept4`; the connection is non-blocking (epoll tells when to read).
    pub(super) fn accept_nonblocking(l: &OwnedFd) -> io::Result<OwnedFd> {
        loop {
            // SAFETY: null address pointers are allowed; the result is checked.
            let r = unsafe {
                libc::accept4(
                    l.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                )
            };
            match cvt(r) {
                // SAFETY: accept4 just returned this fd and nothing else owns it.
                Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// An epoll instance watching `fd` for input (level-triggered, as a plain C server would).
    pub(super) fn epoll_for_read(fd: &OwnedFd) -> io::Result<OwnedFd> {
        // SAFETY: plain epoll_create1; the result is checked.
        let raw = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
        let ep = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: both fds are open; ev is a valid event that outlives the call.
        cvt(unsafe { libc::epoll_ctl(raw, libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) })?;
        Ok(ep)
    }

    /// Blocks in `epoll_wait` until the one watched fd is readable.
    pub(super) fn epoll_wait_one(ep: &OwnedFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        loop {
            // SAFETY: room for exactly one event in our local; infinite timeout.
            match cvt(unsafe { libc::epoll_wait(ep.as_raw_fd(), &mut ev, 1, -1) }) {
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// One `read(2)`; 0 bytes on `EAGAIN`, `UnexpectedEof` on end of stream.
    pub(super) fn read_some(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => Err(eof()),
            n if n > 0 => Ok(n as usize),
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(e),
                }
            }
        }
    }
}
