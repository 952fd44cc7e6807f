use std::path::PathBuf;

use super::*;
use crate::domain::San;
use crate::tls::test_handshake;

const YEAR: i64 = 365 * 86_400;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn write(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A cluster CA in `dir` (ca.pem) and a certificate for `node_id` signed
/// by it, written as `name`.pem / `name`.key.
struct Pki {
    ca: pki::Issued,
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Self {
        let ca = pki::new_cluster_ca(now() - 60, now() + 10 * YEAR).unwrap();
        write(
            &dir.join("ca.pem"),
            &pki::to_pem("CERTIFICATE", &ca.cert_der),
            0o644,
        );
        Self {
            ca,
            dir: dir.to_path_buf(),
        }
    }

    fn node(&self, name: &str, node_id: u64, not_after: i64) -> TlsFiles {
        let cert = pki::new_node_cert(
            &self.ca.cert_der,
            &self.ca.key,
            node_id,
            &[San::parse("127.0.0.1").unwrap()],
            now() - 60,
            not_after,
        )
        .unwrap();
        let files = TlsFiles {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
            ca: self.dir.join("ca.pem"),
        };
        write(
            &files.cert,
            &pki::to_pem("CERTIFICATE", &cert.cert_der),
            0o644,
        );
        write(&files.key, &cert.key.to_pem(), 0o600);
        files
    }
}

fn peer_node(client: &rustls::ClientConnection) -> Option<u64> {
    pki::node_id_of(client.peer_certificates()?.first()?)
}

#[test]
fn two_nodes_of_one_cluster_ca_handshake_and_see_each_others_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let one = NodeTls::load(1, pki.node("node-1", 1, now() + YEAR)).unwrap();
    let two = NodeTls::load(2, pki.node("node-2", 2, now() + YEAR)).unwrap();
    let (client, server) =
        test_handshake::run(one.client_config(), two.server_config(), "127.0.0.1").unwrap();
    assert_eq!(peer_node(&client), Some(2));
    let presented = server.peer_certificates().unwrap();
    assert_eq!(pki::node_id_of(&presented[0]), Some(1));
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    // mrctl's side: the CA only, no client certificate; still admitted
    // (the node-to-node service refuses it later, by its missing node id).
    let roots = read_roots(&dir.path().join("ca.pem")).unwrap();
    let anonymous = Arc::new(mrouter_proto::connect::client_config(roots, None).unwrap());
    let (_, server) = test_handshake::run(anonymous, two.server_config(), "127.0.0.1").unwrap();
    assert!(server.peer_certificates().is_none());
}

#[test]
fn a_node_of_another_cluster_ca_is_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Pki::new(dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let theirs = Pki::new(other_dir.path());
    let one = NodeTls::load(1, ours.node("node-1", 1, now() + YEAR)).unwrap();
    let stranger_files = theirs.node("node-9", 9, now() + YEAR);
    let stranger = NodeTls::load(9, stranger_files.clone()).unwrap();
    // The stranger dials us, trusting our CA so that it gets as far as
    // showing its own certificate: we refuse that.
    use rustls::pki_types::pem::PemObject;
    let dialer = mrouter_proto::connect::client_config(
        mrouter_proto::connect::read_roots(&dir.path().join("ca.pem")).unwrap(),
        Some((
            mrouter_proto::connect::read_certs(&stranger_files.cert).unwrap(),
            rustls::pki_types::PrivateKeyDer::from_pem_file(&stranger_files.key).unwrap(),
        )),
    )
    .unwrap();
    let refused =
        test_handshake::run(Arc::new(dialer), one.server_config(), "127.0.0.1").unwrap_err();
    assert!(
        matches!(
            refused,
            test_handshake::Refused::ByServer(rustls::Error::InvalidCertificate(_))
        ),
        "{refused:?}"
    );
    // We dial it: its server certificate is not from our CA.
    let refused = test_handshake::run(one.client_config(), stranger.server_config(), "127.0.0.1")
        .unwrap_err();
    assert!(
        matches!(
            refused,
            test_handshake::Refused::ByClient(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{refused:?}"
    );
}

#[test]
fn the_files_must_name_this_node_come_from_the_ca_and_be_current() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let err = NodeTls::load(3, pki.node("node-2", 2, now() + YEAR))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is for node 2, but this is node 3"), "{err}");

    let expired = pki.node("old", 1, now() - 1);
    let err = NodeTls::load(1, expired).err().unwrap().to_string();
    assert!(err.contains("expired"), "{err}");

    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::new(other_dir.path());
    let mut files = other.node("node-1", 1, now() + YEAR);
    files.ca = dir.path().join("ca.pem");
    let err = NodeTls::load(1, files).err().unwrap().to_string();
    assert!(err.contains("not signed by the cluster CA"), "{err}");

    let files = pki.node("shared", 1, now() + YEAR);
    write(
        &files.key,
        &std::fs::read_to_string(&files.key).unwrap(),
        0o640,
    );
    let err = NodeTls::load(1, files).err().unwrap().to_string();
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn a_changed_certificate_is_used_by_the_next_handshake_and_a_bad_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let files = pki.node("node-1", 1, now() + YEAR);
    let tls = NodeTls::load(1, files.clone()).unwrap();
    let before = tls.server_config();
    assert!(!tls.reload(false).unwrap(), "nothing changed");
    assert!(Arc::ptr_eq(&before, &tls.server_config()));

    // Rotated in place (same names, a new certificate and key).
    let rotated = pki.node("node-1", 1, now() + 2 * YEAR);
    assert!(tls.reload(false).unwrap());
    let after = tls.server_config();
    assert!(!Arc::ptr_eq(&before, &after));
    let two = NodeTls::load(2, pki.node("node-2", 2, now() + YEAR)).unwrap();
    let (client, _) = test_handshake::run(two.client_config(), after, "127.0.0.1").unwrap();
    let served = client.peer_certificates().unwrap()[0].to_vec();
    assert_eq!(served, read_certs(&rotated.cert).unwrap()[0].to_vec());

    // A broken key: refused, and the rotated configuration stays.
    write(&files.key, "not a key", 0o600);
    assert!(tls.reload(false).is_err());
    assert!(!tls.reload(false).unwrap(), "a bad set is tried once");
    let (client, _) =
        test_handshake::run(two.client_config(), tls.server_config(), "127.0.0.1").unwrap();
    assert_eq!(client.peer_certificates().unwrap()[0].to_vec(), served);
}
