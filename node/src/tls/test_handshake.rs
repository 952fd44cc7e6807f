//! In-memory TLS handshakes for this module's tests: the two sides trade
//! records through a buffer until both are done, and a refusal says which
//! side refused.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Error, ServerConfig, ServerConnection};

/// Which side ended the handshake, and why.
#[derive(Debug)]
pub(crate) enum Refused {
    ByClient(Error),
    ByServer(Error),
}

impl Refused {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Refused::ByClient(e) | Refused::ByServer(e) => e,
        }
    }
}

/// Runs a handshake to `name`; returns both finished connections.
pub(crate) fn run(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(ClientConnection, ServerConnection), Refused> {
    let name = ServerName::try_from(name.to_string()).expect("a valid server name");
    let mut c = ClientConnection::new(client, name).expect("a client connection");
    let mut s = ServerConnection::new(server).expect("a server connection");
    let mut buf = Vec::new();
    for _ in 0..16 {
        buf.clear();
        c.write_tls(&mut buf).expect("writing to memory");
        if !buf.is_empty() {
            s.read_tls(&mut buf.as_slice())
                .expect("reading from memory");
            s.process_new_packets().map_err(Refused::ByServer)?;
        }
        buf.clear();
        s.write_tls(&mut buf).expect("writing to memory");
        if !buf.is_empty() {
            c.read_tls(&mut buf.as_slice())
                .expect("reading from memory");
            c.process_new_packets().map_err(Refused::ByClient)?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok((c, s));
        }
    }
    panic!("the handshake did not finish in 16 rounds");
}
