//! Graceful shutdown: after SIGTERM (or SIGINT) the listener closes, an in-flight request still
//! completes, and the process exits 0; a second signal exits at once. Nothing acknowledged is
//! lost either way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn in_flight(server: &Server) -> u64 {
    server
        .get("/metrics")
        .body_str()
        .lines()
        .find_map(|l| l.strip_prefix("coffer_requests_in_flight "))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

/// A CreateSecret whose head and part of the body are sent; the rest follows on `finish`.
fn start_request(server: &Server, name: &str) -> (TcpStream, Vec<u8>) {
    let body = format!(
        "{{\"Name\":\"{name}\",\"SecretString\":\"kept\",\"ClientRequestToken\":\"{}\"}}",
        "0123456789abcdef0123456789abcdef"
    )
    .into_bytes();
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nhost: {}\r\nx-amz-target: secretsmanager.CreateSecret\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
            server.addr,
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(&body[..5]).unwrap();
    s.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight(server) != 1 {
        assert!(Instant::now() < deadline, "request never in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
    (s, body[5..].to_vec())
}

fn options() -> Options {
    Options {
        dev: true,
        rust_log: Some("info".into()),
        config: Some("[limits]\nread_timeout = \"60s\"\n".into()),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut server = Server::start(options());
    let (mut s, rest) = start_request(&server, "drained");
    server.signal("TERM");
    // The listener closes: new connections are refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&server.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight completes.
    s.write_all(&rest).unwrap();
    let r = common::pki::read_response(&mut s).unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.json()["ARN"].as_str().unwrap().contains("drained"));
    // And the connection is closed after it (no more keep-alive).
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("did not exit");
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());

    // What was acknowledged is there after a restart (unsigned dev requests address us-east-1).
    server.start_again();
    let v = server
        .secrets("us-east-1")
        .get_secret_value()
        .secret_id("drained")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("kept"));
}

#[test]
fn sigint_with_nothing_in_flight_exits_0() {
    let mut server = Server::start(options());
    server.signal("INT");
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("did not exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut server = Server::start(options());
    let (_s, _rest) = start_request(&server, "abandoned");
    server.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("shutting down") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("did not exit");
    assert_eq!(status.code(), Some(1));
    assert!(server.log().contains("second signal"), "{}", server.log());
}
