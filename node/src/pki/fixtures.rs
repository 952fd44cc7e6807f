//! Test PKIs: small ones made with our own issuing code, and
//! root → intermediate → leaf chains made by the real `openssl` CLI in a
//! temporary directory, for interoperability tests.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::{KeySpec, San, Subject};

use super::{random_serial, self_signed_ca, sign_server_cert, PrivateKey};

pub(crate) const DAY: i64 = 86_400;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock must be after 1970")
        .as_secs() as i64
}

/// A subject with the given common name in organization "Test", country US.
pub(crate) fn subject(cn: &str) -> Subject {
    Subject {
        country: "US".into(),
        organization: Some("Test".into()),
        common_name: cn.into(),
        ..Default::default()
    }
}

pub(crate) fn dns(name: &str) -> San {
    San::Dns(name.into())
}

/// A CA made with our own code.
pub(crate) struct TestCa {
    pub key: PrivateKey,
    pub cert: Vec<u8>,
}

impl TestCa {
    /// A self-signed CA valid from a day ago for a year.
    pub fn new(cn: &str, spec: KeySpec) -> Self {
        let key = PrivateKey::generate(spec).unwrap();
        let t = now();
        let cert =
            self_signed_ca(&subject(cn), &key, t - DAY, t + 365 * DAY, &random_serial()).unwrap();
        Self { key, cert }
    }

    /// A server certificate for `cn` (also its DNS SAN) with a new key.
    pub fn issue(&self, cn: &str, spec: KeySpec) -> (PrivateKey, Vec<u8>) {
        let t = now();
        self.issue_window(cn, spec, t - DAY, t + 90 * DAY)
    }

    /// A server certificate valid from `not_before` to `not_after`.
    pub fn issue_window(
        &self,
        cn: &str,
        spec: KeySpec,
        not_before: i64,
        not_after: i64,
    ) -> (PrivateKey, Vec<u8>) {
        let key = PrivateKey::generate(spec).unwrap();
        let cert = sign_server_cert(
            &self.cert,
            &self.key,
            &subject(cn),
            &[dns(cn)],
            &key,
            not_before,
            not_after,
            &random_serial(),
        )
        .unwrap();
        (key, cert)
    }
}

/// Key types for openssl-made PKIs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpensslKey {
    Rsa2048,
    Rsa1024,
    EcP256,
}

/// A temporary directory where the `openssl` CLI runs.
pub(crate) struct Openssl {
    dir: tempfile::TempDir,
}

pub(crate) const LEAF_CN: &str = "www.interop.test";
pub(crate) const INTERMEDIATE_SUBJECT: &str = "CN=Interop Intermediate, O=Interop, C=US";
pub(crate) const ROOT_SUBJECT: &str = "CN=Interop Root, O=Interop, C=US";

impl Openssl {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    /// Runs `openssl args…` in the directory, without judging the result.
    pub fn try_run(&self, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl CLI must be installed")
    }

    /// Runs `openssl args…` and panics with its stderr if it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.try_run(args);
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes a PKCS#8 PEM key to `name`.
    pub fn genkey(&self, name: &str, kind: OpensslKey) {
        let opt = match kind {
            OpensslKey::Rsa2048 => ["RSA", "rsa_keygen_bits:2048"],
            OpensslKey::Rsa1024 => ["RSA", "rsa_keygen_bits:1024"],
            OpensslKey::EcP256 => ["EC", "ec_paramgen_curve:P-256"],
        };
        self.run(&[
            "genpkey",
            "-algorithm",
            opt[0],
            "-pkeyopt",
            opt[1],
            "-out",
            name,
        ]);
    }

    /// root.{key,pem} → inter.{key,pem} → leaf.{key,pem} (leaf for
    /// [`LEAF_CN`] with DNS and IP SANs, serverAuth).
    pub fn chain(kind: OpensslKey) -> Self {
        let o = Self::new();
        for name in ["root.key", "inter.key", "leaf.key"] {
            o.genkey(name, kind);
        }
        o.run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "root.key",
            "-subj",
            "/C=US/O=Interop/CN=Interop Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "root.pem",
        ]);
        o.write(
            "inter.ext",
            b"basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        );
        o.write(
            "leaf.ext",
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:{LEAF_CN},IP:192.0.2.7\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").as_bytes(),
        );
        o.sign_csr(
            "inter",
            "/C=US/O=Interop/CN=Interop Intermediate",
            "root",
            "0x1001",
        );
        o.sign_csr(
            "leaf",
            &format!("/C=US/O=Interop/CN={LEAF_CN}"),
            "inter",
            "0x2002",
        );
        o
    }

    fn sign_csr(&self, name: &str, subj: &str, issuer: &str, serial: &str) {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        self.run(&["req", "-new", "-key", &key, "-subj", subj, "-out", &csr]);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-set_serial",
            serial,
            "-days",
            "30",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ]);
    }

    /// The DER of a PEM certificate file.
    pub fn der(&self, pem_name: &str) -> Vec<u8> {
        pem::parse(self.read(pem_name)).unwrap().into_contents()
    }
}
