//! Request limits from the configuration: load shedding with AWS's throttling errors beyond
//! `max_concurrent_requests`, slow-loris and idle-connection floods that cannot exhaust the
//! server, header, body and body-time limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn server(limits: &str) -> Server {
    Server::start(Options {
        dev: true,
        config: Some(format!("[limits]\n{limits}\n")),
        ..Options::default()
    })
}

/// The `coffer_requests_in_flight` gauge.
fn in_flight(server: &Server) -> u64 {
    let text = server.get("/metrics").body_str();
    text.lines()
        .find_map(|l| l.strip_prefix("coffer_requests_in_flight "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

fn wait_in_flight(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight(server) != n {
        assert!(Instant::now() < deadline, "in flight never reached {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A request held in flight: its head and half its body are sent; [`Held::finish`] sends the
/// rest and reads the answer.
struct Held {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Held {
    fn start(addr: &str) -> Held {
        let body = b"{\"Limit\": 10}".to_vec();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let head = format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nx-amz-target: TrentService.ListKeys\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..4]).unwrap();
        stream.flush().unwrap();
        Held {
            stream,
            rest: body[4..].to_vec(),
        }
    }

    fn finish(mut self) -> RawResponse {
        self.stream.write_all(&self.rest).unwrap();
        let mut buf = Vec::new();
        self.stream.read_to_end(&mut buf).unwrap();
        common::parse_response(&buf).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_is_shed_with_throttling_errors() {
    let server = server("max_concurrent_requests = 2\nread_timeout = \"30s\"");
    let a = Held::start(&server.addr);
    let b = Held::start(&server.addr);
    wait_in_flight(&server, 2);

    // JSON protocol: HTTP 400, __type ThrottlingException (the SDK sees the code).
    let r = server.signed_json(SignedJson::kms("ListKeys", b"{}"));
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert_eq!(r.error_code(), "ThrottlingException");
    assert_eq!(r.json()["__type"], "ThrottlingException");
    expect_err(
        server.kms(PRIMARY).list_keys().send().await,
        "ThrottlingException",
    );
    expect_err(
        server.secrets(PRIMARY).list_secrets().send().await,
        "ThrottlingException",
    );
    // Query protocol (STS, IAM): an ErrorResponse with Code Throttling.
    let r = server.raw(
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body_str().contains("<Code>Throttling</Code>"),
        "{}",
        r.body_str()
    );
    expect_err(
        server.sts(PRIMARY).get_caller_identity().send().await,
        "Throttling",
    );
    // Probes and metrics are never shed.
    assert_eq!(server.get("/_coffer/health/ready").status, 200);
    assert!(server
        .get("/metrics")
        .body_str()
        .contains("outcome=\"ThrottlingException\""));

    // The held requests complete; then there is room again.
    assert_eq!(a.finish().status, 200);
    assert_eq!(b.finish().status, 200);
    wait_in_flight(&server, 0);
    server.kms(PRIMARY).list_keys().send().await.unwrap();
}

/// Waits until the server closes `s` (read returns 0 or an error); panics after 30 s.
fn closed_by_server(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    assert!(start.elapsed() < Duration::from_secs(30), "not closed");
}

#[test]
fn slow_loris_cannot_exhaust_the_server() {
    let server = server("max_connections = 16\nread_timeout = \"1s\"\nidle_timeout = \"60s\"");
    // Many more connections than allowed, each sending an incomplete head.
    let mut slow: Vec<TcpStream> = (0..48)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            let _ = s.write_all(
                b"POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: TrentService.ListKeys\r\n",
            );
            s
        })
        .collect();
    // A real request still gets through: the slow ones are cut off after read_timeout.
    let r = http(&server.addr, "GET", "/_coffer/health/ready", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    for s in slow.iter_mut().take(4) {
        closed_by_server(s);
    }
    // One that trickles a header byte at a time is cut off too, before its head is done.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"GET /_coffer/health HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let cut = loop {
        if s.write_all(b"x-a: b\r\n").is_err() {
            break true;
        }
        sent += 1;
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut probe = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        let r = s.read(&mut probe);
        s.set_nonblocking(false).unwrap();
        match r {
            Ok(0) => break true,
            Ok(_) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
    };
    assert!(
        cut,
        "a trickling client was never cut off ({sent} header lines sent)"
    );
}

#[test]
fn idle_connections_cannot_exhaust_the_server() {
    let server = server("max_connections = 8\nread_timeout = \"1s\"\nidle_timeout = \"1s\"");
    // A flood of connections that never send anything.
    let _idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    let r = http(&server.addr, "GET", "/_coffer/health/ready", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    // A keep-alive connection left idle after a response is closed by the server.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    common::pki::write_request(
        &mut s,
        &server.addr,
        "GET",
        "/_coffer/health/live",
        &[],
        b"",
        false,
    )
    .unwrap();
    assert_eq!(common::pki::read_response(&mut s).unwrap().status, 200);
    closed_by_server(&mut s);
}

#[test]
fn header_body_and_body_time_limits() {
    let server = server("max_header_bytes = 8192\nmax_body_bytes = 1000\nread_timeout = \"1s\"");
    let big = "a".repeat(20_000);
    let r = http(
        &server.addr,
        "GET",
        "/_coffer/health",
        &[("x-big", &big)],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 431);

    let body = vec![b' '; 2000];
    let r = server.raw(
        "POST",
        "/",
        &[
            ("x-amz-target", "TrentService.ListKeys"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        &body,
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), "RequestEntityTooLargeException");

    // A body that stops arriving: 408 RequestTimeoutException after read_timeout.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nhost: {}\r\nconnection: close\r\nx-amz-target: TrentService.ListKeys\r\ncontent-length: 100\r\n\r\n{{",
            server.addr
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let r = common::parse_response(&buf).unwrap();
    assert_eq!(r.status, 408);
    assert_eq!(r.error_code(), "RequestTimeoutException");
}
