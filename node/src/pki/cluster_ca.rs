//! The cluster CA: a CA of its own, apart from the mobility CA in the
//! replicated state, that signs the certificates nodes present to each other
//! and to `mrctl`. A node certificate names its node as the URI SAN
//! `urn:mrouter:node:<id>` and serves both ends of a connection (serverAuth
//! and clientAuth), as `consul tls cert create -server` does.

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType,
};

use crate::domain::{KeySpec, San};

use super::cert_facts::parse_certificate;
use super::error::PkiError;
use super::issue::{base_params, checked_serial, random_serial, san_types, CaSigner};
use super::private_key::PrivateKey;
use crate::domain::Subject;

/// The URI SAN prefix naming a node in a node certificate.
pub const NODE_URI_PREFIX: &str = "urn:mrouter:node:";

/// A cluster CA or node certificate and its key, as written to files.
pub struct Issued {
    pub cert_der: Vec<u8>,
    pub key: PrivateKey,
}

/// A new cluster CA (P-256): CN `mrouter cluster CA <random>`, so that two
/// clusters' CAs never share a name; pathLen 0 (it signs leaves only).
pub fn new_cluster_ca(not_before: i64, not_after: i64) -> Result<Issued, PkiError> {
    let key = PrivateKey::generate(KeySpec::EcdsaP256)?;
    let mut params = base_params(&Subject::default(), not_before, not_after)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "mrouter");
    name.push(
        DnType::CommonName,
        format!(
            "mrouter cluster CA {}",
            hex::encode(super::random_array::<4>())
        ),
    );
    params.distinguished_name = name;
    params.serial_number = Some(checked_serial(&random_serial())?);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pair = key.key_pair()?;
    let cert = params.self_signed(&*pair).map_err(|e| PkiError::Signing {
        action: "sign the cluster CA certificate",
        reason: e.to_string(),
    })?;
    Ok(Issued {
        cert_der: cert.der().to_vec(),
        key,
    })
}

/// A certificate for node `node_id` reachable at `sans`, with a new P-256
/// key, signed by the cluster CA.
pub fn new_node_cert(
    ca_cert_der: &[u8],
    ca_key: &PrivateKey,
    node_id: u64,
    sans: &[San],
    not_before: i64,
    not_after: i64,
) -> Result<Issued, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::NoSans);
    }
    let signer = CaSigner::new(ca_cert_der, ca_key)?;
    let key = PrivateKey::generate(KeySpec::EcdsaP256)?;
    let mut params = base_params(&Subject::default(), not_before, not_after)?;
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "mrouter");
    name.push(DnType::CommonName, format!("mrouter node {node_id}"));
    params.distinguished_name = name;
    params.serial_number = Some(checked_serial(&random_serial())?);
    let uri = Ia5String::try_from(format!("{NODE_URI_PREFIX}{node_id}")).map_err(|e| {
        PkiError::Signing {
            action: "encode the node URI",
            reason: e.to_string(),
        }
    })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.subject_alt_names.extend(san_types(sans)?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let cert_der = signer.sign(&params, &key.spki_der(), "sign the node certificate")?;
    Ok(Issued { cert_der, key })
}

/// What a node certificate says about its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCert {
    /// From the `urn:mrouter:node:` URI SAN; `None` when it has none.
    pub node_id: Option<u64>,
    /// Unix seconds.
    pub not_after: i64,
    pub subject: String,
}

/// Reads the node id and expiry from a certificate (DER).
pub fn node_cert(cert_der: &[u8]) -> Result<NodeCert, PkiError> {
    let cert = parse_certificate(cert_der, "the node certificate")?;
    let node_id = node_uri_id(&cert);
    Ok(NodeCert {
        node_id,
        not_after: cert.validity().not_after.timestamp(),
        subject: super::name::one_line(cert.subject()),
    })
}

/// The node a certificate (DER) speaks for, if it names exactly one.
pub fn node_id_of(cert_der: &[u8]) -> Option<u64> {
    parse_certificate(cert_der, "the node certificate")
        .ok()
        .and_then(|cert| node_uri_id(&cert))
}

fn node_uri_id(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<u64> {
    let san = cert.subject_alternative_name().ok().flatten()?;
    let mut ids = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(u) => u.strip_prefix(NODE_URI_PREFIX),
        _ => None,
    });
    let id = ids.next()?.parse::<u64>().ok().filter(|id| *id > 0)?;
    // A certificate naming two nodes speaks for neither.
    ids.next().is_none().then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_node_certificate_names_its_node_and_chains_to_the_cluster_ca() {
        let ca = new_cluster_ca(0, 3650 * DAY).unwrap();
        let sans = [
            San::parse("127.0.0.1").unwrap(),
            San::parse("node-2").unwrap(),
        ];
        let node = new_node_cert(&ca.cert_der, &ca.key, 2, &sans, 0, 365 * DAY).unwrap();
        assert_eq!(node_id_of(&node.cert_der), Some(2));
        let facts = node_cert(&node.cert_der).unwrap();
        assert_eq!(facts.node_id, Some(2));
        assert_eq!(facts.not_after, 365 * DAY);
        assert!(
            facts.subject.contains("mrouter node 2"),
            "{}",
            facts.subject
        );
        super::super::verify_signed_by(&node.cert_der, &ca.cert_der).unwrap();
        // Another cluster's CA did not sign it, and its CA names differ.
        let other = new_cluster_ca(0, 3650 * DAY).unwrap();
        assert!(super::super::verify_signed_by(&node.cert_der, &other.cert_der).is_err());
        assert_ne!(
            node_cert(&ca.cert_der).unwrap().subject,
            node_cert(&other.cert_der).unwrap().subject
        );
        // A CA is no node.
        assert_eq!(node_id_of(&ca.cert_der), None);
        assert!(matches!(
            new_node_cert(&ca.cert_der, &ca.key, 2, &[], 0, DAY),
            Err(PkiError::NoSans)
        ));
    }
}
