//! Validation of the names and addresses a person types: DNS names and IPs.

use std::net::IpAddr;

/// Checks a DNS name (RFC 1123 labels, at most 253 characters). Wildcards are
/// refused here; certificate SANs validate them separately.
pub fn validate_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "it is {} characters long; the limit is 253",
            name.len()
        ));
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err("it is an IP address, not a name".into());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    for label in name.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "label {label:?} contains {c:?}; only letters, digits and '-' are allowed"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("its last label is numeric, which no DNS name has".into());
    }
    Ok(())
}

/// Checks an IPv4 or IPv6 address.
pub fn validate_ip(value: &str) -> Result<IpAddr, String> {
    value
        .parse::<IpAddr>()
        .map_err(|_| "expected an IPv4 address like 192.0.2.10 or an IPv6 address".into())
}
