//! Test PKIs made with rcgen (independent of mrouter's own code): CAs,
//! intermediates and leaves with any validity window, for import tests.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// A CA (root or intermediate) that can sign.
pub struct TestCa {
    pub cert_pem: String,
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key.
pub struct TestLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "mrouter tests");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = OffsetDateTime::now_utc() - Duration::days(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    p
}

impl TestCa {
    /// A self-signed root CA with an ECDSA P-256 key.
    pub fn root(cn: &str) -> TestCa {
        let key = KeyPair::generate().expect("key generation must work");
        let params = ca_params(cn);
        let cert = params.self_signed(&key).expect("self-signing must work");
        TestCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, cn: &str) -> TestCa {
        let key = KeyPair::generate().expect("key generation must work");
        let params = ca_params(cn);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing must work");
        TestCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server leaf for `names`, valid from `from_days` to `to_days`
    /// relative to now.
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64) -> TestLeaf {
        let key = KeyPair::generate().expect("key generation must work");
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("test names must be valid");
        p.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.use_authority_key_identifier_extension = true;
        p.not_before = OffsetDateTime::now_utc() + Duration::days(from_days);
        p.not_after = OffsetDateTime::now_utc() + Duration::days(to_days);
        let cert = p.signed_by(&key, &self.issuer).expect("signing must work");
        TestLeaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
