//! The TLS listener. hyper serves each connection directly (rather than through a framework
//! server) so that a fault can close a connection without answering.

use crate::client_certs::{ClientCertJudge, ClientCertMode};
use crate::config::SimConfig;
use crate::sim::{Sim, User};
use crate::tls::{self, CertFiles, TlsError};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The peer's address, put on every request for the cookie's `ip=` field.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
pub struct Abort;

#[derive(Debug, thiserror::Error)]
#[error("connection closed on purpose by a drop_after_commit fault")]
struct Aborted;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub cert_dir: PathBuf,
    pub users: Vec<User>,
    pub config: SimConfig,
    /// Extra DNS names or IPs for the server certificate.
    pub cert_names: Vec<String>,
    /// Whether clients are asked for (or must show) a certificate.
    pub client_certs: ClientCertMode,
}

/// A server running on the current tokio runtime; dropping it stops accepting connections.
pub struct Running {
    pub addr: SocketAddr,
    pub certs: CertFiles,
    pub sim: Arc<Sim>,
    accept: JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

pub fn router(sim: Arc<Sim>) -> Router {
    crate::control::routes()
        .fallback(crate::wapi::handle)
        .with_state(sim)
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    judge: Option<ClientCertJudge>,
    app: Router,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    // Judged once per connection: the certificate cannot change after the handshake.
    let cert = judge
        .map(|j| j.judge(tls.get_ref().1.peer_certificates()))
        .unwrap_or_default();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut().insert(cert.clone());
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            // Failing the service makes hyper drop the connection without writing anything.
            if resp.extensions().get::<Abort>().is_some() {
                Err(Aborted)
            } else {
                Ok(resp)
            }
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

pub async fn start(opts: Options) -> Result<Running, StartError> {
    let (tls_config, certs, judge) =
        tls::generate(&opts.cert_dir, &opts.cert_names, opts.client_certs)?;
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: opts.listen,
        source,
    })?;
    let sim = Arc::new(Sim::new(opts.config, opts.users));
    let app = router(sim.clone());
    let acceptor = TlsAcceptor::from(tls_config);
    let accept = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_connection(
                        acceptor.clone(),
                        judge.clone(),
                        app.clone(),
                        tcp,
                        peer,
                    ));
                }
                Err(e) => {
                    // Usually out of file descriptors; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(Running {
        addr,
        certs,
        sim,
        accept,
    })
}
