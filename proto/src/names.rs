//! The names of the API's enums as people and the stored records spell them:
//! `KEY_TYPE_ECDSA_P256` is `ecdsa-p256`, `CLIENT_STATE_PROVISIONED` is
//! `provisioned`. mrctl's flags and json/yaml output use these names, and
//! nodes map them to the stored format.

use serde::Serializer;

use crate::v1::{CertOrigin, CertState, ClientState, ClusterMode, KeyOrigin, KeyType};

/// An API enum with a short name for each value but UNSPECIFIED.
pub trait Named: Sized + Copy + 'static {
    /// The prefix of every value's proto name, e.g. `KEY_TYPE_`.
    const PREFIX: &'static str;
    fn proto_name(self) -> &'static str;
    fn from_proto_name(name: &str) -> Option<Self>;
    fn values() -> &'static [Self];

    /// `ecdsa-p256` for `KEY_TYPE_ECDSA_P256`; empty for UNSPECIFIED.
    fn name(self) -> String {
        let short = self.proto_name().trim_start_matches(Self::PREFIX);
        if short == "UNSPECIFIED" {
            return String::new();
        }
        short.to_ascii_lowercase().replace('_', "-")
    }

    /// The value named `name` (as [`Named::name`] spells it); empty is
    /// UNSPECIFIED.
    fn from_name(name: &str) -> Option<Self> {
        let proto = if name.is_empty() {
            format!("{}UNSPECIFIED", Self::PREFIX)
        } else {
            format!(
                "{}{}",
                Self::PREFIX,
                name.to_ascii_uppercase().replace('-', "_")
            )
        };
        Self::from_proto_name(&proto).filter(|v| name.is_empty() == v.name().is_empty())
    }

    /// Every name but UNSPECIFIED's, for messages: `a, b or c`.
    fn names() -> String {
        let all: Vec<String> = Self::values()
            .iter()
            .map(|v| v.name())
            .filter(|n| !n.is_empty())
            .collect();
        match all.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

macro_rules! named {
    ($($ty:ident $prefix:literal [$($v:ident),*] $ser:ident;)*) => {$(
        impl Named for $ty {
            const PREFIX: &'static str = $prefix;
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_proto_name(name: &str) -> Option<Self> {
                $ty::from_str_name(name)
            }
            fn values() -> &'static [Self] {
                &[$($ty::$v),*]
            }
        }

        /// The field's value by name in json/yaml output (an unknown
        /// number as the number).
        pub fn $ser<S: Serializer>(value: &i32, s: S) -> Result<S::Ok, S::Error> {
            match $ty::try_from(*value) {
                Ok(v) => s.serialize_str(&v.name()),
                Err(_) => s.serialize_i32(*value),
            }
        }
    )*};
}

named! {
    KeyType "KEY_TYPE_" [Unspecified, Rsa2048, Rsa3072, Rsa4096, EcdsaP256, EcdsaP384] key_type;
    CertState "CERT_STATE_" [Unspecified, Active, Pending, Ca] cert_state;
    CertOrigin "CERT_ORIGIN_" [Unspecified, Generated, Imported] cert_origin;
    ClientState "CLIENT_STATE_" [Unspecified, Provisioned, Invalidated, Revoked, Expired] client_state;
    KeyOrigin "KEY_ORIGIN_" [Unspecified, Csr, Server] key_origin;
    ClusterMode "CLUSTER_MODE_" [Unspecified, Standalone, Clustered] cluster_mode;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unspecified_is_empty() {
        assert_eq!(KeyType::EcdsaP256.name(), "ecdsa-p256");
        assert_eq!(KeyType::from_name("ecdsa-p256"), Some(KeyType::EcdsaP256));
        assert_eq!(KeyType::from_name("rsa2048"), Some(KeyType::Rsa2048));
        assert_eq!(KeyType::from_name(""), Some(KeyType::Unspecified));
        assert_eq!(KeyType::from_name("unspecified"), None);
        assert_eq!(KeyType::from_name("dsa"), None);
        assert_eq!(ClientState::Provisioned.name(), "provisioned");
        assert_eq!(
            ClientState::names(),
            "provisioned, invalidated, revoked or expired"
        );
        let info = crate::v1::ClientInfo {
            state: ClientState::Revoked as i32,
            key_origin: KeyOrigin::Csr as i32,
            ..Default::default()
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(
            (v["state"].as_str(), v["key_origin"].as_str()),
            (Some("revoked"), Some("csr"))
        );
    }
}
