//! TCP echo under load: a load generator inside the bench against one-core echo servers.
//!
//! # Method
//! * **Server**: one thread pinned to [`SERVER_CPU`] builds its runtime there, so every thread
//!   the runtime starts (workers, blocking pool) inherits that one-CPU mask: each server gets
//!   exactly one core, whatever its flavour. It accepts `conns` connections, echoes each one
//!   (read up to [`super::servers::ECHO_BUF`] bytes, write them back, `TCP_NODELAY`) until the
//!   client closes it, then returns.
//! * **Load generator**: one thread pinned to [`LOAD_CPU`], plain `epoll` (level-triggered) over
//!   non-blocking std sockets; the same code and the same cost for every server. By default it
//!   busy-polls (`epoll_wait` with timeout 0): it answers an echo at once instead of waiting to
//!   be woken (on a VM, waking a halted vCPU costs tens of µs, and a sleeping generator turns
//!   the run into alternating batches with both sides half idle), so the server, not the
//!   generator's wake-ups, sets the pace. `gen-sleep` makes it block in `epoll_wait`. Closed loop:
//!   each connection has one 64-byte request outstanding; when its 64-byte echo is complete (and
//!   checked) it records the latency (send to last byte received) and sends the next one.
//! * **Cell**: warm-up, then a fixed measuring time. req/s = completed requests / wall time.
//!   Server CPU = the process's CPU time (user+sys, `getrusage(RUSAGE_SELF)`) minus the load
//!   generator thread's (`RUSAGE_THREAD`) over the measuring window; req/s per server core =
//!   requests / server CPU seconds, i.e. the throughput at 100% of one core, which stays
//!   meaningful when the load generator and not the server is the bottleneck.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::servers::Server;
use super::{loadavg, median, Args};

/// CPU the echo server (and every thread its runtime starts) runs on.
pub(crate) const SERVER_CPU: usize = 0;
/// CPU the load generator runs on.
pub(crate) const LOAD_CPU: usize = 1;
/// Request and response size in bytes.
pub(crate) const REQUEST: usize = 64;
/// Listen backlog, above the largest connection count so no SYN is dropped while connecting.
const BACKLOG: i32 = 4096;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 512;
/// `epoll_wait` timeout when the generator sleeps, so it notices the end of a cell with nothing
/// in flight.
const WAIT_MS: i32 = 50;

/// What one cell measured.
pub(crate) struct Cell {
    /// Completed requests per second of wall time.
    pub(crate) rps: f64,
    /// Completed requests per second of server CPU time.
    pub(crate) rps_per_core: f64,
    /// Server CPU time / wall time.
    pub(crate) server_cpu: f64,
    /// Load generator CPU time / wall time.
    pub(crate) load_cpu: f64,
    /// Latency percentiles in µs.
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

/// Pins the calling thread to `cpu` (threads it starts later inherit the mask). Returns false
/// when the machine has too few CPUs or the call failed (the bench then runs unpinned).
pub(crate) fn pin_current_thread(cpu: usize) -> bool {
    if cpus() <= cpu {
        return false;
    }
    // SAFETY: `set` is a plain bitmask owned by this frame; CPU_ZERO/CPU_SET only write into it,
    // and sched_setaffinity reads `size_of_val(&set)` bytes from it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0
    }
}

/// Number of CPUs available to the process.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time (user, sys) of the process (`RUSAGE_SELF`) or the calling thread (`RUSAGE_THREAD`).
fn cpu_time(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct owned by this frame.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Runs one cell: `server` with `conns` connections for `warmup` + `secs`.
pub(crate) fn run_cell(
    server: Server,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    spin: bool,
) -> Cell {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    // std listens with a backlog of 128; raise it (listen again on a listening socket only
    // changes the backlog) so connecting 256+ clients never waits for a SYN retry.
    // SAFETY: the fd belongs to `listener`, alive for the call.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
    let addr = listener.local_addr().expect("local_addr");
    let srv = std::thread::Builder::new()
        .name("echo-server".into())
        .spawn(move || {
            pin_current_thread(SERVER_CPU);
            server.serve(listener, conns);
        })
        .expect("spawn server thread");
    let gen = std::thread::Builder::new()
        .name("load-gen".into())
        .spawn(move || {
            pin_current_thread(LOAD_CPU);
            generate(addr, conns, warmup, secs, spin)
        })
        .expect("spawn load generator");
    let cell = gen.join().expect("load generator panicked");
    srv.join().expect("server panicked");
    cell
}

/// One client connection's state.
struct Conn {
    stream: std::net::TcpStream,
    /// Bytes of the current echo received so far.
    got: usize,
    /// Sequence number of the outstanding request (echoed back in its first 8 bytes).
    seq: u64,
    sent_at: Instant,
    buf: [u8; REQUEST],
}

impl Conn {
    fn request(&self, idx: usize) -> [u8; REQUEST] {
        let mut req = [0x5a_u8; REQUEST];
        req[..8].copy_from_slice(&self.seq.to_le_bytes());
        req[8..16].copy_from_slice(&(idx as u64).to_le_bytes());
        req
    }

    fn send(&mut self, idx: usize) {
        use std::io::Write;
        let req = self.request(idx);
        self.sent_at = Instant::now();
        // 64 bytes into a socket whose previous request was answered: the send buffer is empty,
        // so a non-blocking write takes all of it.
        let n = self.stream.write(&req).expect("load generator write");
        assert_eq!(n, REQUEST, "short write of a 64-byte request");
    }
}

/// The load generator: connects, runs the closed loop, closes every connection.
fn generate(
    addr: std::net::SocketAddr,
    conns: usize,
    warmup: Duration,
    secs: Duration,
    spin: bool,
) -> Cell {
    let wait_ms = if spin { 0 } else { WAIT_MS };
    use std::io::Read;
    // SAFETY: plain syscall; the returned fd is closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(
        ep >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    let mut cs: Vec<Conn> = (0..conns)
        .map(|i| {
            let stream = std::net::TcpStream::connect(addr).expect("connect to echo server");
            stream.set_nodelay(true).expect("nodelay");
            stream.set_nonblocking(true).expect("nonblocking");
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: `ev` lives across the call; both fds are open.
            let rc =
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut ev) };
            assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
            Conn {
                stream,
                got: 0,
                seq: 0,
                sent_at: Instant::now(),
                buf: [0; REQUEST],
            }
        })
        .collect();
    for (i, c) in cs.iter_mut().enumerate() {
        c.send(i);
    }

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + secs;
    let mut measuring = false;
    let zero = (Duration::ZERO, Duration::ZERO);
    let (mut t0, mut self0, mut thread0) = (start, zero, zero);
    let mut done = 0u64;
    loop {
        // SAFETY: `events` has EVENTS writable entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), EVENTS as i32, wait_ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "epoll_wait: {e}");
            continue;
        }
        let mut now = Instant::now();
        if !measuring && now >= measure_from {
            measuring = true;
            t0 = now;
            self0 = cpu_time(libc::RUSAGE_SELF);
            thread0 = cpu_time(libc::RUSAGE_THREAD);
        }
        if now >= end {
            break;
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let c = &mut cs[i];
            let got = c.got;
            match c.stream.read(&mut c.buf[got..]) {
                Ok(0) => panic!("echo server closed connection {i}"),
                Ok(k) => c.got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("load generator read: {e}"),
            }
            if c.got < REQUEST {
                continue;
            }
            assert!(c.buf == c.request(i), "echo mismatch on connection {i}");
            now = Instant::now();
            if measuring {
                hist.record((now - c.sent_at).as_nanos().max(1) as u64)
                    .expect("latency in histogram range");
                done += 1;
            }
            c.got = 0;
            c.seq += 1;
            c.send(i);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let (self1, thread1) = (cpu_time(libc::RUSAGE_SELF), cpu_time(libc::RUSAGE_THREAD));
    let secs = |a: Duration, b: Duration| (a - b).as_secs_f64();
    let (load_user, load_sys) = (secs(thread1.0, thread0.0), secs(thread1.1, thread0.1));
    let server_user = secs(self1.0, self0.0) - load_user;
    let server = server_user + secs(self1.1, self0.1) - load_sys;
    let load = load_user + load_sys;
    drop(cs);
    // SAFETY: `ep` was returned by epoll_create1 above and is closed once.
    unsafe { libc::close(ep) };
    Cell {
        rps: done as f64 / wall,
        rps_per_core: done as f64 / server.max(1e-9),
        server_cpu: server / wall,
        load_cpu: load / wall,
        p50_us: hist.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1e3,
    }
}

/// The echo load table: every server, every connection count, `rounds` interleaved rounds.
pub(crate) fn table(args: &Args) {
    let warmup = Duration::from_secs_f64((args.secs / 4.0).min(0.5));
    let secs = Duration::from_secs_f64(args.secs);
    let pinned = cpus() > LOAD_CPU;
    println!();
    println!(
        "TCP echo load: {} B requests, closed loop (one outstanding request per connection); \
         every server gets 1 core: {}; load generator: one epoll thread{}, {}; {:.1} s per cell after \
         {:.2} s warm-up, {} round(s) (median); load average {}",
        REQUEST,
        if pinned {
            format!("its runtime's threads pinned to CPU {}", SERVER_CPU)
        } else {
            "unpinned (fewer than 2 CPUs)".to_owned()
        },
        if pinned {
            format!(" pinned to CPU {}", LOAD_CPU)
        } else {
            String::new()
        },
        if args.spin {
            "busy-polling"
        } else {
            "sleeping in epoll_wait"
        },
        args.secs,
        warmup.as_secs_f64(),
        args.rounds,
        loadavg(),
    );
    // cells[conns index][server index] = one Cell per round.
    let servers: Vec<Server> = Server::ALL
        .into_iter()
        .filter(|s| {
            args.servers.is_empty() || args.servers.iter().any(|w| s.key().contains(w.as_str()))
        })
        .collect();
    let mut cells: Vec<Vec<Vec<Cell>>> = args
        .conns
        .iter()
        .map(|_| servers.iter().map(|_| Vec::new()).collect())
        .collect();
    // Each round starts at the next server, so no server always runs right after a change of
    // connection count or right after the same neighbour.
    for round in 0..args.rounds {
        for (ci, &conns) in args.conns.iter().enumerate() {
            for k in 0..servers.len() {
                let si = (k + round) % servers.len();
                cells[ci][si].push(run_cell(servers[si], conns, warmup, secs, args.spin));
            }
        }
    }
    let med = |v: &[Cell], f: fn(&Cell) -> f64| median(v.iter().map(f).collect());
    println!();
    println!(
        "| {:<20} | {:>5} | {:>9} | {:>14} | {:>13} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9} |",
        "server (1 core)",
        "conns",
        "req/s",
        "req/s per core",
        "per-core span",
        "srv CPU",
        "gen CPU",
        "p50 us",
        "p99 us",
        "x tokio",
        "x monoio"
    );
    println!(
        "|{:-<22}|{:->7}|{:->11}|{:->16}|{:->15}|{:->10}|{:->10}|{:->10}|{:->10}|{:->11}|{:->11}|",
        "", "", "", "", "", "", "", "", "", "", ""
    );
    for (ci, &conns) in args.conns.iter().enumerate() {
        let per_core: Vec<f64> = cells[ci]
            .iter()
            .map(|c| med(c, |c| c.rps_per_core))
            .collect();
        let idx = |s: Server| servers.iter().position(|x| x.name() == s.name());
        let best_tokio = [Server::TokioCt, Server::TokioMt]
            .iter()
            .filter_map(|&s| idx(s))
            .map(|i| per_core[i])
            .fold(0.0, f64::max);
        let monoio = idx(Server::Monoio).map_or(f64::NAN, |i| per_core[i]);
        for (si, server) in servers.iter().enumerate() {
            let c = &cells[ci][si];
            let vs = |base: f64| {
                if (server.is_rpal() || server.is_floor()) && base > 0.0 {
                    format!("{:.2}x", per_core[si] / base)
                } else {
                    "".to_owned()
                }
            };
            let (lo, hi) = c.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), c| {
                (lo.min(c.rps_per_core), hi.max(c.rps_per_core))
            });
            println!(
                "| {:<20} | {:>5} | {:>9.0} | {:>14.0} | {:>13} | {:>7.0}% | {:>7.0}% | {:>8.1} | {:>8.1} | {:>9} | {:>9} |",
                server.name(),
                conns,
                med(c, |c| c.rps),
                per_core[si],
                format!("{:.0}k-{:.0}k", lo / 1e3, hi / 1e3),
                med(c, |c| c.server_cpu) * 100.0,
                med(c, |c| c.load_cpu) * 100.0,
                med(c, |c| c.p50_us),
                med(c, |c| c.p99_us),
                vs(best_tokio),
                vs(monoio),
            );
        }
    }
    println!();
    println!(
        "req/s per core = requests / server CPU seconds (user+sys of the process minus the load \
         generator thread), median over the rounds; per-core span = lowest-highest round; x tokio = rpal's per-core figure / the better of tokio ct and mt(1); \
         x monoio likewise against monoio."
    );
}
