//! The API's enums and the names the stored records use for them
//! (`KeyType::EcdsaP256` is `ecdsa-p256`): the stored format stays text.

use super::ApiError;
use mrouter_proto::names::Named;

/// The stored name of `value` of `field` (empty for UNSPECIFIED); a number
/// the API does not define is refused, naming the field.
pub(super) fn name_of<E: Named + TryFrom<i32>>(
    field: &str,
    value: i32,
) -> Result<String, ApiError> {
    E::try_from(value)
        .map(|v| v.name())
        .map_err(|_| ApiError::UnknownEnumValue {
            field: field.into(),
            value,
            names: E::names(),
        })
}

/// The API value for a stored name (UNSPECIFIED for one it has no value
/// for, which a record written by this code never holds).
pub(super) fn value_of<E: Named + Into<i32>>(name: &str) -> i32 {
    E::from_name(name).map_or(0, Into::into)
}

#[cfg(test)]
mod tests {
    use mrouter_proto::v1::{ClientState, KeyType};

    use super::*;
    use crate::domain;

    #[test]
    fn every_stored_name_has_an_api_value() {
        for state in [
            domain::ClientState::Provisioned,
            domain::ClientState::Invalidated,
            domain::ClientState::Revoked,
            domain::ClientState::Expired,
        ] {
            assert_ne!(value_of::<ClientState>(&state.to_string()), 0, "{state}");
        }
        for mode in ["standalone", "clustered"] {
            assert_ne!(value_of::<mrouter_proto::v1::ClusterMode>(mode), 0);
        }
        assert_eq!(name_of::<KeyType>("key_type", 4).unwrap(), "ecdsa-p256");
        assert_eq!(name_of::<KeyType>("key_type", 0).unwrap(), "");
        let err = name_of::<KeyType>("key_type", 99).unwrap_err();
        let err = tonic::Status::from(err);
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("rsa2048"), "{}", err.message());
    }
}
