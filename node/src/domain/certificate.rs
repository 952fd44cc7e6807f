//! The vocabulary of certificates as the domain sees them: key types, subject
//! fields, subject alternative names, and the stored summary of a certificate
//! (what `cert show` reports and what activation checks names against).
//! Parsing and signing live in `pki`; this module only validates and describes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::names::validate_dns_name;

/// The key types a person may choose for generated keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
}

impl KeySpec {
    pub const ALL: [KeySpec; 5] = [
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EcdsaP256,
        KeySpec::EcdsaP384,
    ];

    /// The name used on the command line and in reports, e.g. `rsa2048`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::Rsa2048 => "rsa2048",
            KeySpec::Rsa3072 => "rsa3072",
            KeySpec::Rsa4096 => "rsa4096",
            KeySpec::EcdsaP256 => "ecdsa-p256",
            KeySpec::EcdsaP384 => "ecdsa-p384",
        }
    }
}

impl KeySpec {
    /// Parses a key type a person gave, `default` when it is blank.
    pub fn parse_or(value: &str, default: KeySpec) -> Result<KeySpec, DomainError> {
        if value.trim().is_empty() {
            return Ok(default);
        }
        value.parse()
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeySpec {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(spec) = KeySpec::ALL.into_iter().find(|k| k.as_str() == lower) {
            return Ok(spec);
        }
        if let Some(bits) = lower
            .strip_prefix("rsa")
            .and_then(|b| b.trim_start_matches(['-', ':']).parse::<u32>().ok())
        {
            if bits < 2048 {
                return Err(DomainError::WeakKey { bits });
            }
        }
        Err(DomainError::UnknownKeyType { value: s.into() })
    }
}

/// Subject fields of a certificate or CSR, validated by [`Subject::validate`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub state: Option<String>,
    pub locality: Option<String>,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub common_name: String,
}

/// ISO 3166-1 alpha-2 country codes (the 249 officially assigned), plus XK,
/// the user-assigned code in common use for Kosovo. Sorted.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM \
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE \
NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA \
UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// Longest value X.520 allows for the name attributes we write.
const MAX_ATTRIBUTE_LEN: usize = 64;

/// The country a subject gets when none is given.
pub const DEFAULT_COUNTRY: &str = "US";

impl Subject {
    /// A router certificate's subject: the country defaults to
    /// [`DEFAULT_COUNTRY`], then the fields are checked as by [`Subject::validate`].
    pub fn for_router(self) -> Result<(Subject, Vec<String>), DomainError> {
        self.with_default_country().validate()
    }

    /// A generated CA's subject: the common name defaults to the cluster
    /// domain and the country to [`DEFAULT_COUNTRY`]; with neither a common
    /// name nor a cluster domain it is refused.
    pub fn for_ca(
        mut self,
        cluster_domain: Option<&str>,
    ) -> Result<(Subject, Vec<String>), DomainError> {
        if self.common_name.trim().is_empty() {
            self.common_name = cluster_domain
                .ok_or_else(|| DomainError::InvalidSubjectField {
                    field: "common_name".into(),
                    reason: "it is empty and no cluster domain is set to default to: set subject.common_name, or the cluster_domain setting".into(),
                })?
                .to_string();
        }
        self.with_default_country().validate()
    }

    fn with_default_country(mut self) -> Subject {
        if self.country.trim().is_empty() {
            self.country = DEFAULT_COUNTRY.into();
        }
        self
    }

    /// Normalizes and checks the fields; returns warnings (e.g. a two-letter
    /// state). Empty optional fields become `None`.
    pub fn validate(mut self) -> Result<(Subject, Vec<String>), DomainError> {
        let country = self.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !COUNTRY_CODES.split_ascii_whitespace().any(|c| c == country) {
            return Err(DomainError::InvalidCountry {
                value: self.country,
            });
        }
        self.country = country;
        self.common_name = self.common_name.trim().to_string();
        if self.common_name.is_empty() {
            return Err(DomainError::EmptyCommonName);
        }
        let mut warnings = Vec::new();
        for (field, value) in [
            ("state", &mut self.state),
            ("locality", &mut self.locality),
            ("organization", &mut self.organization),
            ("organizational_unit", &mut self.organizational_unit),
        ] {
            *value = value
                .take()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            if let Some(v) = value {
                check_attribute(field, v)?;
            }
        }
        check_attribute("common_name", &self.common_name)?;
        if let Some(state) = &self.state {
            if state.len() == 2 && state.chars().all(|c| c.is_ascii_alphabetic()) {
                warnings.push(format!(
                    "state {state:?} looks like an abbreviation: spell the state or province out in full (e.g. California)"
                ));
            }
        }
        Ok((self, warnings))
    }

    /// One line in RFC 4514 order, e.g. `CN=mr.example.com, O=Example, C=US`.
    pub fn one_line(&self) -> String {
        let mut parts = vec![format!("CN={}", self.common_name)];
        for (k, v) in [
            ("OU", &self.organizational_unit),
            ("O", &self.organization),
            ("L", &self.locality),
            ("ST", &self.state),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.push(format!("C={}", self.country));
        parts.join(", ")
    }
}

fn check_attribute(field: &str, value: &str) -> Result<(), DomainError> {
    if value.chars().count() > MAX_ATTRIBUTE_LEN {
        return Err(DomainError::InvalidSubjectField {
            field: field.into(),
            reason: format!("it is longer than {MAX_ATTRIBUTE_LEN} characters"),
        });
    }
    if let Some(c) = value.chars().find(|c| is_unsafe_char(*c)) {
        return Err(DomainError::InvalidSubjectField {
            field: field.into(),
            reason: format!("it contains the control character U+{:04X}", c as u32),
        });
    }
    Ok(())
}

/// Characters refused in free text: control characters, and the Unicode
/// bidirectional controls (U+200E/F, U+061C, U+202A–202E, U+2066–2069)
/// that reorder what a terminal shows (a table row, a log line).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// A subject alternative name: a DNS name (wildcards allowed in the leftmost
/// label only) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// Parses `dns:NAME`, `ip:ADDR`, or a bare name or address.
    pub fn parse(value: &str) -> Result<San, DomainError> {
        let raw = value.trim();
        let (kind, body) = match raw.split_once(':') {
            Some((k, b)) if k.eq_ignore_ascii_case("dns") => (Some("dns"), b),
            Some((k, b)) if k.eq_ignore_ascii_case("ip") => (Some("ip"), b),
            _ => (None, raw),
        };
        let invalid = |reason: String| DomainError::InvalidSan {
            value: value.into(),
            reason,
        };
        match kind {
            Some("ip") => body
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| invalid("not an IPv4 or IPv6 address".into())),
            Some(_) => San::dns(body).map_err(invalid),
            None => match body.parse::<IpAddr>() {
                Ok(ip) => Ok(San::Ip(ip)),
                Err(_) if looks_like_ipv4(body) => Err(invalid(
                    "it looks like an IPv4 address but is not one (each part must be 0-255)".into(),
                )),
                Err(_) => San::dns(body).map_err(invalid),
            },
        }
    }

    /// The bare name or address, without the `dns:`/`ip:` of [`fmt::Display`].
    pub fn bare(&self) -> String {
        match self {
            San::Dns(d) => d.clone(),
            San::Ip(ip) => ip.to_string(),
        }
    }

    /// A DNS SAN, lower-cased; `*.` is allowed as the whole leftmost label.
    pub fn dns(name: &str) -> Result<San, String> {
        let lower = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let rest = lower.strip_prefix("*.").unwrap_or(&lower);
        if rest.contains('*') {
            return Err(
                "a wildcard is allowed only as the whole leftmost label (like *.example.com)"
                    .into(),
            );
        }
        if rest != lower && !rest.contains('.') {
            return Err(
                "a wildcard needs at least two labels after it (like *.example.com)".into(),
            );
        }
        validate_dns_name(rest)?;
        Ok(San::Dns(lower))
    }

    /// Whether this SAN covers `name` (a DNS name or an IP address in text).
    pub fn covers(&self, name: &str) -> bool {
        match self {
            San::Ip(ip) => name.parse::<IpAddr>().is_ok_and(|n| n == *ip),
            San::Dns(pattern) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name.parse::<IpAddr>().is_ok() {
                    return false;
                }
                match pattern.strip_prefix("*.") {
                    Some(suffix) => name
                        .split_once('.')
                        .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
                    None => *pattern == name,
                }
            }
        }
    }
}

fn looks_like_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(d) => write!(f, "dns:{d}"),
            San::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

/// The facts about a certificate that the domain stores beside its DER, so
/// that reads and activation checks need no parsing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSummary {
    /// RFC 4514 one-line subject.
    pub subject: String,
    pub common_name: Option<String>,
    pub issuer: String,
    /// Hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    pub sans: Vec<San>,
    /// e.g. `rsa2048`, `ecdsa-p256`.
    pub key_type: String,
    /// SHA-256 of the DER, hex upper case with colons like openssl prints it.
    pub fingerprint_sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex: ties keys, CSRs and certs.
    pub spki_sha256: String,
    pub is_ca: bool,
}

impl CertSummary {
    /// Names of `wanted` that no SAN covers.
    pub fn missing_names(&self, wanted: &[String]) -> Vec<String> {
        wanted
            .iter()
            .filter(|w| !self.sans.iter().any(|s| s.covers(w)))
            .cloned()
            .collect()
    }
}

/// Where a certificate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Generated,
    Imported,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Generated => "generated",
            Origin::Imported => "imported",
        })
    }
}
