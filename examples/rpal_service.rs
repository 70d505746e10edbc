//! Two services in isolated call-gate domains calling each other, then the same service run as
//! a separate process and called over an RpalStream, with the same client code.
//!
//! `cargo run --release --example rpal_service`
//!
//! * domain A holds `greet` and `stamp`; domain B holds `upper`;
//! * `greet` (A) calls `upper` (B), and `upper` calls back into A's `stamp`: three gate calls,
//!   two domains, each running under its own protection key where the CPU has `pku`;
//! * the client (`run_client`) connects by name: in the first half `greet` is published on this
//!   thread, so the calls go through the gate; in the second half this program re-executes
//!   itself with `--serve`, that process builds the same domains and serves `greet` over an
//!   `RpalListener`, and the same client code connects to it over shared memory.

use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rpal_net::service::{self, ServiceClient};
use rpal_net::unix::UnixAddr;
use rpal_net::RpalListener;
use rpal_rt::gate::pkey::availability;
use rpal_rt::gate::{Domain, DomainConfig, Service};

/// Hidden argument that makes this program the service process.
const SERVE_ARG: &str = "--serve";
/// Calls timed per placement.
const CALLS: u32 = 100_000;

/// Builds domains A and B and returns `greet`, the service clients call. The domains live as
/// long as the returned service (its handler holds `upper`, which holds `stamp`).
fn build_services() -> io::Result<Service> {
    let a = Domain::new(DomainConfig::new())?;
    let b = Domain::new(DomainConfig::new())?;
    let stamp = a.register("stamp", |req, resp| {
        let _ = resp.write(b"[");
        let _ = resp.write(req);
        let _ = resp.write(b"]");
    });
    let upper = b.register("upper", move |req, resp| {
        // B calls back into A: a second stack of A, A's key, B's rights restored afterwards.
        match stamp.call(&req.to_ascii_uppercase()) {
            Ok(stamped) => {
                let _ = resp.write(&stamped);
            }
            Err(e) => {
                let _ = resp.write(format!("upper: {e}").as_bytes());
            }
        }
    });
    Ok(a.register("greet", move |req, resp| {
        let _ = resp.write(b"hello, ");
        match upper.call(req) {
            Ok(up) => {
                let _ = resp.write(&up);
            }
            Err(e) => {
                let _ = resp.write(format!("greet: {e}").as_bytes());
            }
        }
    }))
}

/// The client, identical for both placements: one call printed, then `CALLS` timed calls.
async fn run_client(label: &str, client: &mut ServiceClient) -> io::Result<()> {
    let answer = client.call(b"rpal").await?;
    println!(
        "{label}: greet(\"rpal\") = {:?}",
        String::from_utf8_lossy(&answer)
    );
    let mut out = Vec::new();
    let start = Instant::now();
    for _ in 0..CALLS {
        client.call_into(b"rpal", &mut out).await?;
    }
    let per_call = start.elapsed() / CALLS;
    println!("{label}: {CALLS} calls, {per_call:?} per call (mean, three nested gate calls each)");
    Ok(())
}

/// The service process: serve `greet` to one client, then exit.
fn serve(name: &str) -> io::Result<()> {
    let rt = rpal_rt::Runtime::new_current_thread()?;
    rt.block_on(async {
        let greet = build_services()?;
        let listener = RpalListener::bind(UnixAddr::Abstract(&service::service_addr(name)))?;
        println!("ready");
        let (stream, _) = listener.accept().await?;
        service::serve_connection(stream, &greet).await
    })
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SERVE_ARG) {
        return serve(args.get(2).map_or("greet", String::as_str));
    }
    println!("protection keys: {}", availability());
    let rt = rpal_rt::Runtime::new_current_thread()?;

    // 1. In process: publish `greet` on this thread; connect finds it and uses the gate.
    rt.block_on(async {
        let greet = build_services()?;
        service::publish(&greet);
        let mut client = ServiceClient::connect("greet").await?;
        assert!(client.is_in_process());
        run_client("in-process (gate)", &mut client).await?;
        service::unpublish("greet");
        Ok::<_, io::Error>(())
    })?;

    // 2. Another process: the same service, served over an RpalListener.
    let name = format!("greet-{}", std::process::id());
    let mut child = Command::new(std::env::current_exe()?)
        .args([SERVE_ARG, &name])
        .stdout(Stdio::piped())
        .spawn()?;
    if let Some(out) = child.stdout.as_mut() {
        use std::io::Read;
        let mut ready = [0u8; 6];
        out.read_exact(&mut ready)?;
    }
    let result = rt.block_on(async {
        let mut client = connect_retrying(&name).await?;
        assert!(!client.is_in_process());
        run_client("other process (RpalStream)", &mut client).await
    });
    let status = child.wait()?;
    result?;
    println!("service process exited: {status}");
    Ok(())
}

/// Connects, retrying briefly while the server process is still binding its name.
async fn connect_retrying(name: &str) -> io::Result<ServiceClient> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ServiceClient::connect(name).await {
            Err(e) if Instant::now() < deadline && e.kind() == io::ErrorKind::ConnectionRefused => {
                rpal_rt::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}
