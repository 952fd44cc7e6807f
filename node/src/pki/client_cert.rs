//! Client certificates and the certificate revocation list. A client
//! certificate names the client in its CN and in a URI SAN
//! (`urn:mrouter:client:<id>`), carries extendedKeyUsage clientAuth, and is
//! issued for a public key the client holds (from its CSR, or made here and
//! handed out once).

use rcgen::string::Ia5String;
use rcgen::{
    CertificateRevocationListParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::error::PkiError;
use super::issue::{base_params, checked_serial, CaSigner};
use super::private_key::PrivateKey;
use crate::domain::Subject;

/// The URI SAN prefix that names a client.
pub const CLIENT_URI_PREFIX: &str = "urn:mrouter:client:";

/// Checks that a client's public key type is one we accept: RSA of at least
/// 2048 bits, or ECDSA P-256/P-384. Returns the key type name.
pub fn check_client_key(key_type: &str) -> Result<(), PkiError> {
    if let Some(bits) = key_type
        .strip_prefix("rsa")
        .and_then(|b| b.parse::<usize>().ok())
    {
        return if bits < 2048 {
            Err(PkiError::WeakKey { bits })
        } else {
            Ok(())
        };
    }
    match key_type {
        "ecdsa-p256" | "ecdsa-p384" => Ok(()),
        other => Err(PkiError::UnsupportedKey {
            algorithm: other.to_string(),
        }),
    }
}

/// A client certificate (DER) for the public key `spki_der`, signed by the CA.
#[allow(clippy::too_many_arguments)]
pub fn sign_client_cert(
    ca_cert_der: &[u8],
    ca_key: &PrivateKey,
    client_id: &str,
    user: &str,
    spki_der: &[u8],
    not_before: i64,
    not_after: i64,
    serial: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let signer = CaSigner::new(ca_cert_der, ca_key)?;
    sign_client_cert_with(
        &signer, client_id, user, spki_der, not_before, not_after, serial,
    )
}

/// [`sign_client_cert`] with a CA loaded once for many certificates.
pub fn sign_client_cert_with(
    signer: &CaSigner,
    client_id: &str,
    user: &str,
    spki_der: &[u8],
    not_before: i64,
    not_after: i64,
    serial: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let subject = Subject {
        country: "US".into(),
        common_name: client_id.to_string(),
        ..Default::default()
    };
    let mut params = base_params(&subject, not_before, not_after)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, client_id);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, user);
    params.serial_number = Some(checked_serial(serial)?);
    let uri = Ia5String::try_from(format!("{CLIENT_URI_PREFIX}{client_id}")).map_err(|e| {
        PkiError::Signing {
            action: "encode the client URI",
            reason: e.to_string(),
        }
    })?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    signer.sign(&params, spki_der, "sign the client certificate")
}

/// Who a client certificate names: the id from its `urn:mrouter:client:` URI
/// SAN (or, failing that, its CN) and its serial (hex, as stored).
pub fn client_identity(cert_der: &[u8]) -> Result<(String, String), PkiError> {
    let cert = super::cert_facts::parse_certificate(cert_der, "the client certificate")?;
    let serial = super::inspect::serial_hex(cert.raw_serial());
    let from_uri = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|san| {
            san.value.general_names.iter().find_map(|n| match n {
                x509_parser::extensions::GeneralName::URI(u) => {
                    u.strip_prefix(CLIENT_URI_PREFIX).map(str::to_string)
                }
                _ => None,
            })
        });
    let id = match from_uri {
        Some(id) => id,
        None => super::name::common_name(cert.subject()).ok_or_else(|| {
            PkiError::InvalidCertificate {
                what: "the client certificate".into(),
                reason: "it names no client (no client URI and no CN)".into(),
            }
        })?,
    };
    Ok((id, serial))
}

/// One revoked certificate for the CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedSerial {
    /// Hex as `openssl x509 -serial` prints it.
    pub serial_hex: String,
    /// Unix seconds.
    pub revoked_at: i64,
}

/// A CRL (DER) signed by the CA listing `revoked`.
pub fn sign_crl(
    signer: &CaSigner,
    revoked: &[RevokedSerial],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
) -> Result<Vec<u8>, PkiError> {
    let time = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t).map_err(|_| PkiError::InvalidValidity {
            not_before: this_update,
            not_after: next_update,
        })
    };
    let mut revoked_certs = Vec::with_capacity(revoked.len());
    for r in revoked {
        let serial = hex::decode(&r.serial_hex).map_err(|_| PkiError::InvalidSerial {
            len: r.serial_hex.len(),
        })?;
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time: time(r.revoked_at)?,
            reason_code: None,
            invalidity_date: None,
        });
    }
    let issuer = signer.issuer()?;
    let params = CertificateRevocationListParams {
        this_update: time(this_update)?,
        next_update: time(next_update)?,
        crl_number: SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer).map_err(|e| PkiError::Signing {
        action: "sign the CRL",
        reason: e.to_string(),
    })?;
    Ok(crl.der().to_vec())
}

#[cfg(test)]
mod tests;
