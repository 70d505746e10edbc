//! One client, both placements: the same `exercise` function calls a service published in this
//! process (through the call gate) and the same handler served by another process (this test
//! binary re-executed as the server) over an RpalStream.

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use rpal_net::service::{self, ServiceClient};
use rpal_net::unix::UnixAddr;
use rpal_net::RpalListener;
use rpal_rt::gate::{Domain, DomainConfig, ResponseBuf};

/// Set in the re-executed child: the service name it must serve.
const SERVER_ENV: &str = "RPAL_SERVICE_PLACEMENT_SERVER";
/// Set in the re-executed child: serve by busy-polling (never parks) instead of awaiting.
const BUSY_ENV: &str = "RPAL_SERVICE_PLACEMENT_BUSY";

/// The service, identical in both placements.
fn upper(req: &[u8], resp: &mut ResponseBuf<'_>) {
    if req == b"panic" {
        panic!("asked to panic");
    }
    if req == b"sleep" {
        // An async handler: the calling task (in process) or the connection's task (in the
        // service process) gets Pending and the reactor resumes the handler.
        rpal_rt::gate::wait(rpal_rt::time::sleep(Duration::from_millis(1)));
        resp.write(b"SLEPT").unwrap();
        return;
    }
    resp.write(&req.to_ascii_uppercase()).unwrap();
}

/// The client code under test: it never asks where the service runs.
async fn exercise(client: &mut ServiceClient) {
    assert_eq!(client.call(b"hello").await.unwrap(), b"HELLO");
    assert_eq!(client.call(b"").await.unwrap(), b"");
    let big: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(
        client.call(&big).await.unwrap(),
        big.to_ascii_uppercase(),
        "40 kB request and response intact"
    );
    assert_eq!(client.call(b"sleep").await.unwrap(), b"SLEPT");
    let err = client.call(b"panic").await.unwrap_err();
    assert!(err.to_string().contains("asked to panic"), "{err}");
    let mut out = Vec::new();
    for i in 0..200u32 {
        let req = format!("call {i}");
        client.call_into(req.as_bytes(), &mut out).await.unwrap();
        assert_eq!(out, req.to_ascii_uppercase().as_bytes());
    }
}

#[test]
fn same_client_against_an_in_process_domain() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let domain = Domain::new(DomainConfig::new()).unwrap();
        let name = format!("placement-local-{}", std::process::id());
        service::publish(&domain.register(&name, upper));
        let mut client = ServiceClient::connect(&name).await.unwrap();
        assert!(client.is_in_process());
        exercise(&mut client).await;
        assert!(service::unpublish(&name));
        assert_eq!(domain.stats().arena_used, 0);
    });
}

/// In the child process only: serves one connection, then returns.
#[test]
fn server_process_entry() {
    let Some(name) = std::env::var_os(SERVER_ENV) else {
        return;
    };
    let name = name.into_string().unwrap();
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let domain = Domain::new(DomainConfig::new()).unwrap();
        let svc = domain.register(&name, upper);
        let listener =
            RpalListener::bind(UnixAddr::Abstract(&service::service_addr(&name))).unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        if std::env::var_os(BUSY_ENV).is_some() {
            busy_serve(stream, &svc);
        } else {
            service::serve_connection(stream, &svc).await.unwrap();
        }
    });
}

/// A server that never parks: spins on `try_read` for each framed request (the service wire
/// format: u32 LE length + body; answer: status 0 + u32 LE length + body). Its receiver word
/// thus always says "running", so a client must never ring its doorbell.
fn busy_serve(mut stream: rpal_net::RpalStream, svc: &rpal_rt::gate::Service) {
    fn fill(stream: &mut rpal_net::RpalStream, buf: &mut [u8]) -> bool {
        let mut got = 0;
        while got < buf.len() {
            match stream.try_read(&mut buf[got..]) {
                Ok(0) => return false,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("busy server: {e}"),
            }
        }
        true
    }
    let mut len = [0u8; 4];
    while fill(&mut stream, &mut len) {
        let mut req = vec![0u8; u32::from_le_bytes(len) as usize];
        assert!(fill(&mut stream, &mut req));
        let resp = svc.call(&req).unwrap();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(resp.len() as u32).to_le_bytes());
        frame.extend_from_slice(&resp);
        futures::executor::block_on(futures::AsyncWriteExt::write_all(&mut stream, &frame))
            .unwrap();
    }
}

/// Starts the server child for `name` (busy-polling or not) and connects to it.
async fn spawn_server(name: &str, busy: bool) -> (std::process::Child, ServiceClient) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "server_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SERVER_ENV, name);
    if busy {
        cmd.env(BUSY_ENV, "1");
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ServiceClient::connect(name).await {
            Ok(c) => return (child, c),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) && Instant::now() < deadline =>
            {
                rpal_rt::time::sleep(Duration::from_millis(10)).await
            }
            Err(e) => panic!("connect to {name}: {e}"),
        }
    }
}

#[test]
fn no_doorbell_while_the_service_process_runs() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        // A busy-polling server never publishes "waiting": no call may ring its doorbell.
        let name = format!("placement-busy-{}", std::process::id());
        let (mut child, mut client) = spawn_server(&name, true).await;
        for i in 0..500u32 {
            let req = format!("busy {i}");
            assert_eq!(
                client.call(req.as_bytes()).await.unwrap(),
                req.to_ascii_uppercase().as_bytes()
            );
        }
        assert_eq!(client.stream_stats().unwrap().doorbells_sent, 0);
        drop(client);
        assert!(child.wait().unwrap().success());

        // A server left idle long enough parks ("waiting"): then the call rings it.
        let name = format!("placement-idle-{}", std::process::id());
        let (mut child, mut client) = spawn_server(&name, false).await;
        for _ in 0..3 {
            rpal_rt::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(client.call(b"x").await.unwrap(), b"X");
        }
        assert!(client.stream_stats().unwrap().doorbells_sent >= 1);
        drop(client);
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn same_client_against_another_process() {
    let name = format!("placement-remote-{}", std::process::id());
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    let mut child = rt.block_on(async {
        // Nothing is published on this thread, so connect goes to the process.
        let (child, mut client) = spawn_server(&name, false).await;
        assert!(!client.is_in_process());
        assert!(client.stream_stats().is_some());
        exercise(&mut client).await;
        child
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "server process: {status}");
}

#[test]
fn connect_without_a_local_or_remote_service_fails() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let err = ServiceClient::connect("placement-nobody-serves-this")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ),
            "{err:?}"
        );
    });
}
