//! The peer of the session benchmark (`benches/session.rs`): what a Rust
//! engineer would write instead of an LU 6.2 conversation to do
//! request/response over TCP.
//!
//! Tokio TCP on loopback, every message framed with a 4-byte big-endian
//! length prefix (the framing our nodes put around each PIU), an echo task
//! per connection, and a client that writes one frame and reads its echo
//! per round trip. The runtime is tokio's default multi-thread one, so the
//! echo runs on a worker thread while the client runs on the caller's, as
//! the two nodes' threads do in the LU 6.2 contestants; both sides set
//! `TCP_NODELAY`, as our backends do.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// A tokio echo server on loopback and one connected client.
#[derive(Debug)]
pub struct TokioEcho {
    runtime: Runtime,
    client: TcpStream,
    echo: Vec<u8>,
}

impl TokioEcho {
    /// Starts the runtime, the server and the client.
    pub fn start() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build()?;
        let client = runtime.block_on(async {
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let addr = listener.local_addr()?;
            tokio::spawn(serve(listener));
            let client = TcpStream::connect(addr).await?;
            client.set_nodelay(true)?;
            Ok::<_, io::Error>(client)
        })?;
        Ok(Self {
            runtime,
            client,
            echo: Vec::new(),
        })
    }

    /// `iters` round trips of `payload`; returns the time they took.
    ///
    /// # Panics
    ///
    /// If the connection fails or an echo differs in length (a benchmark
    /// that stopped measuring what it claims must not report a number).
    pub fn round_trips(&mut self, payload: &[u8], iters: u64) -> Duration {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        let Self {
            runtime,
            client,
            echo,
        } = self;
        runtime.block_on(async {
            let started = Instant::now();
            for _ in 0..iters {
                client.write_all(&frame).await.expect("send");
                let len = client.read_u32().await.expect("echo length") as usize;
                assert_eq!(len, payload.len(), "echo length");
                echo.resize(len, 0);
                client.read_exact(echo).await.expect("echo");
            }
            started.elapsed()
        })
    }
}

/// Accepts connections and echoes each on its own task.
async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(echo(stream));
    }
}

/// Echoes frames until the peer goes away.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut frame = Vec::new();
    loop {
        let len = stream.read_u32().await?;
        frame.clear();
        frame.extend_from_slice(&len.to_be_bytes());
        frame.resize(4 + len as usize, 0);
        stream.read_exact(&mut frame[4..]).await?;
        stream.write_all(&frame).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes() {
        let mut peer = TokioEcho::start().unwrap();
        peer.round_trips(&[7; 100], 3);
        assert_eq!(peer.echo, [7; 100]);
        peer.round_trips(&[], 1);
        assert!(peer.echo.is_empty());
    }
}
