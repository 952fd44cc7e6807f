//! Distinguished names both ways: a domain [`Subject`] into the name rcgen
//! writes, and a parsed X.509 name into a one-line RFC 4514 string
//! (`CN=…, O=…, C=US`, most specific attribute first).

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{
    Oid, OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_GIVEN_NAME, OID_X509_LOCALITY_NAME,
    OID_X509_ORGANIZATIONAL_UNIT, OID_X509_ORGANIZATION_NAME, OID_X509_SERIALNUMBER,
    OID_X509_STATE_OR_PROVINCE_NAME, OID_X509_STREET_ADDRESS, OID_X509_SURNAME, OID_X509_TITLE,
};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::domain::Subject;

use super::error::PkiError;

/// The rcgen name for `subject`, in the usual DER order C, ST, L, O, OU, CN.
/// The country is a PrintableString as RFC 5280 requires; the rest UTF8String.
pub(crate) fn distinguished_name(subject: &Subject) -> Result<DistinguishedName, PkiError> {
    let mut dn = DistinguishedName::new();
    let country =
        rcgen::string::PrintableString::try_from(subject.country.as_str()).map_err(|_| {
            PkiError::Signing {
                action: "encode the subject",
                reason: format!("country {:?} is not a PrintableString", subject.country),
            }
        })?;
    dn.push(DnType::CountryName, DnValue::PrintableString(country));
    for (ty, value) in [
        (DnType::StateOrProvinceName, &subject.state),
        (DnType::LocalityName, &subject.locality),
        (DnType::OrganizationName, &subject.organization),
        (DnType::OrganizationalUnitName, &subject.organizational_unit),
    ] {
        if let Some(v) = value {
            dn.push(ty, DnValue::Utf8String(v.clone()));
        }
    }
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(subject.common_name.clone()),
    );
    Ok(dn)
}

/// RFC 4514 one-line form: RDNs from last to first, `+` inside an RDN,
/// special characters escaped, unknown attribute types as dotted OIDs.
pub(crate) fn one_line(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(attribute_text).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

/// The last (most specific) common name, if any.
pub(crate) fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .last()
        .and_then(|attr| attribute_value(attr))
}

/// Whether a multi-valued RDN or a duplicate attribute type keeps rcgen
/// from copying this name verbatim as an issuer.
pub(crate) fn rcgen_copy_problem(name: &X509Name<'_>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let attrs: Vec<_> = rdn.iter().collect();
        if attrs.len() != 1 {
            return Some("it has a multi-valued RDN (attributes joined with +)".into());
        }
        let oid = attrs[0].attr_type().to_id_string();
        if seen.contains(&oid) {
            return Some(format!(
                "attribute {} appears more than once",
                short_name(attrs[0].attr_type())
            ));
        }
        seen.push(oid);
    }
    None
}

fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> String {
    let key = short_name(attr.attr_type());
    match attribute_value(attr) {
        Some(v) => format!("{key}={}", escape(&v)),
        None => {
            let any = attr.attr_value();
            let mut der = vec![any.tag().0 as u8];
            der.extend(der_length(any.data.len()));
            der.extend_from_slice(any.data);
            format!("{key}=#{}", hex::encode(der))
        }
    }
}

fn attribute_value(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let any = attr.attr_value();
    let data = any.data;
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        // T.61 in practice carries Latin-1.
        Tag::TeletexString | Tag::VisibleString => {
            Some(data.iter().map(|b| char::from(*b)).collect())
        }
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => data
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => None,
    }
}

fn short_name(oid: &Oid<'_>) -> String {
    let known = [
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_STREET_ADDRESS, "STREET"),
        (&OID_DOMAIN_COMPONENT, "DC"),
        (&OID_PKCS9_EMAIL_ADDRESS, "emailAddress"),
        (&OID_X509_SERIALNUMBER, "serialNumber"),
        (&OID_X509_SURNAME, "SN"),
        (&OID_X509_GIVEN_NAME, "GN"),
        (&OID_X509_TITLE, "title"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == oid)
        .map(|(_, v)| (*v).to_string())
        .unwrap_or_else(|| oid.to_id_string())
}

/// RFC 4514 section 2.4 escaping.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
    out
}

fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_follows_rfc_4514() {
        assert_eq!(escape("Example, Inc."), "Example\\, Inc.");
        assert_eq!(escape("#1 "), "\\#1\\ ");
        assert_eq!(escape("a+b"), "a\\+b");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn der_length_uses_long_form_above_127() {
        assert_eq!(der_length(5), vec![5]);
        assert_eq!(der_length(200), vec![0x81, 200]);
        assert_eq!(der_length(300), vec![0x82, 1, 44]);
    }
}
