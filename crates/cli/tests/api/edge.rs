//! The connection edge over raw TCP sockets: header, body and idle timeouts, the announced-length `413`,
//! the connection cap, and slowloris. Each server runs with short limits so the tests are quick; every
//! "closed" is an EOF (or reset) read within an upper bound well above the configured limit.

use crate::helpers::{Options, TENANT_A, TestApp};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// A server without workers (runs stay queued) and with the given edge flags.
async fn edge_app(flags: &[&str]) -> TestApp {
    TestApp::with(Options {
        workers: 0,
        extra: flags.iter().map(|f| (*f).to_owned()).collect(),
        ..Options::default()
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.server.as_ref().unwrap().addr;
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset) and returns what arrived; fails if the
/// connection is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let read = async {
        let mut all = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        all
    };
    let all = timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("the connection is still open after {within:?}"));
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one response with a `content-length` body, leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> String {
    let read = async {
        let mut all = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {}",
                String::from_utf8_lossy(&all)
            );
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = header(head, "content-length").parse().unwrap();
                if body.len() >= length {
                    return text;
                }
            }
        }
    };
    timeout(Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s")
}

/// A header's value in a response head (names compared case-insensitively).
fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in {head}"))
}

fn problem_of(response: &str) -> serde_json::Value {
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(header(head, "content-type").starts_with("application/problem+json"));
    serde_json::from_str(body).unwrap()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

#[tokio::test]
async fn partial_headers_are_closed_unanswered_after_the_header_read_timeout() {
    let app = edge_app(&["--header-read-timeout-seconds", "1"]).await;
    let started = Instant::now();
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(answer, "", "no answer without a complete request");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed by the header timeout, not before ({:?})",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn fifty_slowloris_connections_dribbling_headers_are_all_closed() {
    let app = edge_app(&["--header-read-timeout-seconds", "1"]).await;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..50 {
        let stream = connect(&app).await;
        clients.push(tokio::spawn(async move {
            let (mut read, mut write) = stream.into_split();
            write.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            let dribble = tokio::spawn(async move {
                // One header line every 200 ms, never the blank line, until the server hangs up.
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if write.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break;
                    }
                }
            });
            let mut buf = [0_u8; 1024];
            let closed = timeout(Duration::from_secs(10), read.read(&mut buf)).await;
            dribble.abort();
            match closed {
                Ok(Ok(0) | Err(_)) => true,
                Ok(Ok(n)) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
                Err(_) => false,
            }
        }));
    }
    for client in clients {
        assert!(client.await.unwrap(), "a slowloris connection stayed open");
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "the server still serves");
    app.stop().await;
}

#[tokio::test]
async fn an_announced_body_over_the_limit_is_refused_with_413_at_once_and_closed() {
    let app = edge_app(&["--body-read-timeout-seconds", "60"]).await;
    let mut stream = connect(&app).await;
    let request = format!(
        "POST /projects HTTP/1.1\r\nHost: test\r\nX-Dev-Tenant-Id: {TENANT_A}\r\n\
         X-Dev-Roles: researcher\r\nContent-Type: application/json\r\n\
         Content-Length: 99999999999\r\n\r\n{{\""
    );
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered without waiting for the body"
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert_eq!(header(head, "connection"), "close");
    let problem = problem_of(&answer);
    assert_eq!(problem["status"], 413);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/payload_too_large")
    );
    assert_eq!(problem["request_id"], header(head, "x-request-id"));
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_closed_after_the_body_read_timeout() {
    let app = edge_app(&["--body-read-timeout-seconds", "1"]).await;
    let mut stream = connect(&app).await;
    let request = format!(
        "POST /projects HTTP/1.1\r\nHost: test\r\nX-Dev-Tenant-Id: {TENANT_A}\r\n\
         X-Dev-Roles: researcher\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"name\": "
    );
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the body timeout ({:?})",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert_eq!(header(head, "connection"), "close");
    let problem = problem_of(&answer);
    assert_eq!(problem["status"], 408);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/request_timeout")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_while_an_older_sse_stream_lives_on() {
    let app = edge_app(&[
        "--idle-timeout-seconds",
        "1",
        "--header-read-timeout-seconds",
        "1",
    ])
    .await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "Does sleep help memory?").await;

    let mut stream = connect(&app).await;
    let request = format!(
        "GET /runs/{run}/events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\
         X-Dev-Tenant-Id: {TENANT_A}\r\nX-Dev-Roles: viewer\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0_u8; 4096];
    let n = timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("stream head")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(header(&head, "content-type").starts_with("text/event-stream"));
    let stream_opened = Instant::now();

    let mut idle = connect(&app).await;
    idle.write_all(HEALTHZ).await.unwrap();
    let answer = read_response(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let answered = Instant::now();
    assert_eq!(
        read_until_closed(&mut idle, Duration::from_secs(10)).await,
        ""
    );
    assert!(
        answered.elapsed() >= Duration::from_millis(900),
        "closed by the idle timeout, not before ({:?})",
        answered.elapsed()
    );

    // The stream, older than the idle and header timeouts, still delivers its keep-alive comments.
    while stream_opened.elapsed() < Duration::from_secs(3) {
        let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the SSE stream keeps sending")
            .unwrap();
        assert!(n > 0, "the SSE stream was closed");
    }
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_get_503_with_retry_after_and_a_freed_slot_serves_again() {
    let app = edge_app(&["--max-connections", "2"]).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ).await.unwrap();
        assert!(
            read_response(&mut stream)
                .await
                .starts_with("HTTP/1.1 200 ")
        );
        held.push(stream);
    }

    let mut over = connect(&app).await;
    over.write_all(HEALTHZ).await.unwrap();
    let answer = read_until_closed(&mut over, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert_eq!(header(head, "retry-after"), "1");
    assert_eq!(header(head, "connection"), "close");
    let problem = problem_of(&answer);
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["request_id"], header(head, "x-request-id"));

    // The held connections were not disturbed.
    held[0].write_all(HEALTHZ).await.unwrap();
    assert!(
        read_response(&mut held[0])
            .await
            .starts_with("HTTP/1.1 200 ")
    );

    // Closing one frees its slot once the server has seen the close.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ).await.unwrap();
        let answer = read_response(&mut stream).await;
        if answer.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_sends_its_whole_oversized_body_before_reading_still_gets_the_413() {
    let app = edge_app(&["--max-body-bytes", "1024"]).await;
    let stream = connect(&app).await;
    let (mut read, mut write) = stream.into_split();
    // More than the sockets' buffers hold: the server must read (and discard) the rest after its
    // answer, or its close resets the connection while the client is still writing.
    let body = vec![b'x'; 16 * 1024 * 1024];
    let head = format!(
        "POST /projects HTTP/1.1\r\nHost: test\r\nX-Dev-Tenant-Id: {TENANT_A}\r\n\
         X-Dev-Roles: researcher\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    // The client writes everything before it reads (as simple clients do); the server answers early
    // and must not reset the connection under the client's feet.
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        write.write_all(&body).await?;
        Ok::<_, std::io::Error>(write)
    });
    let _write = timeout(Duration::from_secs(10), writer)
        .await
        .expect("the writes end")
        .unwrap()
        .expect("the whole body was taken, not reset");
    let mut answer = Vec::new();
    let read = timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .expect("closed within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 "),
        "read {read:?}, answer {answer:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let app = edge_app(&["--write-timeout-seconds", "1"]).await;
    let mut stream = connect(&app).await;
    // Pipelined requests whose answers (4,000 × ~55 KB) are far more than the sockets' buffers hold,
    // and the client reads nothing: the server's writes stall.
    let requests = b"GET /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n".repeat(4000);
    stream.write_all(&requests).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Had the server kept the connection, reading now would get every answer and then hang open.
    let answer = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    let answered = answer.matches("HTTP/1.1 200 OK").count();
    assert!(
        (1..4000).contains(&answered),
        "{answered} answers before the close"
    );
    app.stop().await;
}
