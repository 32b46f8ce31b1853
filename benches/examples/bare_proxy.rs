//! The floor under the load bench: the least a buffering guard proxy built
//! on hyper must do per request, and nothing else. Each of `WORKERS` threads
//! runs a current-thread runtime with its own `SO_REUSEPORT` listener and
//! its own pooled hyper client (the layout `menshen serve` uses); a request's
//! body is read whole, sent upstream with the same method, path and headers,
//! and the upstream's answer is read whole and returned. No parsing, no
//! guards, no metrics, no logs.
//!
//! `benches/load/floor.sh` runs it beside nginx and `menshen serve` and
//! prints CPU per request of each, so the share of the cost that is hyper
//! and the kernel (not Menshen) is measured rather than guessed.
//!
//! ```text
//! cargo run --release -p menshen-benches --example bare_proxy -- LISTEN UPSTREAM [WORKERS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listen: SocketAddr = args.get(1).expect("LISTEN").parse().expect("LISTEN addr");
    let upstream: String = args.get(2).expect("UPSTREAM (http://host:port)").clone();
    let workers: usize = args.get(3).map_or(2, |w| w.parse().expect("WORKERS"));
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(serve(listen, upstream));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

async fn serve(listen: SocketAddr, upstream: String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseport(true).unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(listen).unwrap();
    let listener = socket.listen(1024).unwrap();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move { forward(&client, &upstream, req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut up = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (k, v) in &parts.headers {
        if k != hyper::header::HOST {
            up = up.header(k, v);
        }
    }
    let resp = match client.request(up.body(Full::new(body)).unwrap()).await {
        Ok(r) => r,
        Err(_) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::new()))
                .unwrap())
        }
    };
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
