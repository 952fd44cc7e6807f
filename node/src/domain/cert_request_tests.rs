//! The preparation rules of router certificates, without keys or a cluster.

use std::net::IpAddr;

use super::*;

fn settings() -> Settings {
    Settings {
        cluster_domain: Some("mr.example.com".into()),
        remote_access_fqdn: Some("vpn.example.com".into()),
        virtual_address: Some("10.0.0.100".parse().unwrap()),
        ..Settings::default()
    }
}

fn slot(kind: SlotKind) -> SlotId {
    SlotId::new(kind, 2)
}

fn dns(name: &str) -> San {
    San::Dns(name.into())
}

fn ip(addr: &str) -> San {
    San::Ip(addr.parse::<IpAddr>().unwrap())
}

fn request(cn: &str) -> CertRequest {
    CertRequest {
        subject: Subject {
            common_name: cn.into(),
            ..Subject::default()
        },
        sans: SanChoice::default(),
    }
}

#[test]
fn each_slot_kind_has_its_default_names() {
    let s = settings();
    let node = Some("10.0.0.2:7000");
    assert_eq!(
        default_sans(slot(SlotKind::Local), &s, node),
        [ip("10.0.0.2")]
    );
    assert_eq!(
        default_sans(slot(SlotKind::Remote), &s, node),
        [dns("vpn.example.com"), ip("10.0.0.2")]
    );
    assert_eq!(
        default_sans(slot(SlotKind::LocalVirtual), &s, node),
        [ip("10.0.0.100"), dns("mr.example.com")]
    );
    assert_eq!(
        default_sans(slot(SlotKind::RemoteVirtual), &s, node),
        [
            ip("10.0.0.100"),
            dns("mr.example.com"),
            dns("vpn.example.com")
        ]
    );
}

#[test]
fn defaults_leave_out_what_is_not_set_and_never_repeat_a_name() {
    let empty = Settings::default();
    assert!(default_sans(slot(SlotKind::Local), &empty, None).is_empty());
    assert!(default_sans(slot(SlotKind::RemoteVirtual), &empty, None).is_empty());
    let same = Settings {
        cluster_domain: Some("mr.example.com".into()),
        remote_access_fqdn: Some("mr.example.com".into()),
        ..Settings::default()
    };
    assert_eq!(
        default_sans(slot(SlotKind::RemoteVirtual), &same, None),
        [dns("mr.example.com")]
    );
}

#[test]
fn the_host_of_a_node_address_becomes_a_san() {
    assert_eq!(host_san("127.0.0.1:7000"), Some(ip("127.0.0.1")));
    assert_eq!(host_san("[::1]:7000"), Some(ip("::1")));
    assert_eq!(host_san("::1"), Some(ip("::1")));
    assert_eq!(
        host_san("Node-2.Example.com:7000"),
        Some(dns("node-2.example.com"))
    );
    assert_eq!(host_san("node-2"), Some(dns("node-2")));
    assert_eq!(host_san("bad name:7000"), None);
}

#[test]
fn the_common_name_comes_first_among_the_defaults() {
    let s = settings();
    let defaults = [ip("10.0.0.2")];
    let p = request("router-2.example.com")
        .prepare(slot(SlotKind::Local), &s, &defaults)
        .unwrap();
    assert_eq!(p.sans, [dns("router-2.example.com"), ip("10.0.0.2")]);
    assert_eq!(p.subject.country, "US");
    assert!(p.warnings.is_empty());
}

#[test]
fn a_common_name_among_the_defaults_is_not_repeated() {
    let defaults = [ip("10.0.0.2")];
    let p = request("10.0.0.2")
        .prepare(slot(SlotKind::Local), &settings(), &defaults)
        .unwrap();
    assert_eq!(p.sans, [ip("10.0.0.2")]);
}

#[test]
fn dropped_and_added_names_change_the_list_once() {
    let defaults = [dns("vpn.example.com"), ip("10.0.0.2")];
    let mut r = request("vpn.example.com");
    r.sans = SanChoice {
        add: vec![
            "dns:*.example.com".into(),
            "192.0.2.7".into(),
            "ip:192.0.2.7".into(),
        ],
        drop: vec!["ip:10.0.0.2".into()],
        no_defaults: false,
    };
    let p = r
        .prepare(slot(SlotKind::Remote), &settings(), &defaults)
        .unwrap();
    assert_eq!(
        p.sans,
        [
            dns("vpn.example.com"),
            dns("*.example.com"),
            ip("192.0.2.7")
        ]
    );
}

#[test]
fn without_defaults_only_the_common_name_and_additions_remain() {
    let defaults = [ip("10.0.0.100"), dns("mr.example.com")];
    let mut r = request("mr.example.com");
    r.sans = SanChoice {
        add: vec!["backup.example.com".into()],
        drop: Vec::new(),
        no_defaults: true,
    };
    let p = r
        .prepare(slot(SlotKind::LocalVirtual), &settings(), &defaults)
        .unwrap();
    assert_eq!(p.sans, [dns("mr.example.com"), dns("backup.example.com")]);
}

#[test]
fn dropping_a_name_that_is_no_default_is_refused_with_the_defaults() {
    let defaults = [ip("10.0.0.2")];
    let mut r = request("router-2");
    r.sans.drop = vec!["other.example.com".into()];
    let e = r
        .prepare(slot(SlotKind::Local), &settings(), &defaults)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "subject alternative name \"other.example.com\" is not valid: it is not one of the default names (10.0.0.2), so there is nothing to drop"
    );
    let mut r = request("router-2");
    r.sans.drop = vec!["10.0.0.9".into()];
    let e = r
        .prepare(slot(SlotKind::Local), &settings(), &[])
        .unwrap_err();
    assert!(e.to_string().contains("(none)"), "{e}");
}

#[test]
fn a_bad_addition_is_refused() {
    let mut r = request("router-2");
    r.sans.add = vec!["dns:a*b.example.com".into()];
    assert!(matches!(
        r.prepare(slot(SlotKind::Local), &settings(), &[]),
        Err(DomainError::InvalidSan { .. })
    ));
}

#[test]
fn a_common_name_that_names_no_host_is_refused_as_a_subject_field() {
    let e = request("two words")
        .prepare(slot(SlotKind::Local), &settings(), &[])
        .unwrap_err();
    match e {
        DomainError::InvalidSubjectField { field, reason } => {
            assert_eq!(field, "common_name");
            assert!(
                reason.starts_with("\"two words\" is not an FQDN, host name or IP address: "),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        request(" ").prepare(slot(SlotKind::Local), &settings(), &[]),
        Err(DomainError::EmptyCommonName)
    );
}

#[test]
fn a_remote_common_name_other_than_the_fqdn_warns_as_the_source_says() {
    let s = settings();
    let p = request("router-2.example.com")
        .prepare(slot(SlotKind::Remote), &s, &[])
        .unwrap();
    assert_eq!(
        p.warnings,
        ["certificate subject CN router-2.example.com does not match remote access configuration vpn.example.com"]
    );
    let p = request("VPN.example.com")
        .prepare(slot(SlotKind::RemoteVirtual), &s, &[])
        .unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Local slots are not reached through the remote access name.
    assert_eq!(
        cn_warning(slot(SlotKind::LocalVirtual), Some("x"), &s),
        None
    );
    // Without the setting there is nothing to compare with.
    assert_eq!(
        cn_warning(slot(SlotKind::Remote), Some("x"), &Settings::default()),
        None
    );
    assert_eq!(
        cn_warning(slot(SlotKind::Remote), None, &s).as_deref(),
        Some("certificate subject CN  does not match remote access configuration vpn.example.com")
    );
}

#[test]
fn subject_warnings_come_before_the_cn_warning() {
    let mut r = request("router-2.example.com");
    r.subject.state = Some("CA".into());
    let p = r.prepare(slot(SlotKind::Remote), &settings(), &[]).unwrap();
    assert_eq!(p.warnings.len(), 2);
    assert!(p.warnings[0].starts_with("state \"CA\" looks like an abbreviation"));
    assert!(p.warnings[1].starts_with("certificate subject CN"));
}

fn summary(cn: &str, sans: Vec<San>) -> CertSummary {
    CertSummary {
        subject: format!("CN={cn}"),
        common_name: Some(cn.into()),
        issuer: "CN=Public CA".into(),
        serial: "01".into(),
        not_before: 0,
        not_after: 1,
        sans,
        key_type: "ecdsa-p256".into(),
        fingerprint_sha256: String::new(),
        spki_sha256: String::new(),
        is_ca: false,
    }
}

#[test]
fn an_import_that_misses_default_names_warns_with_them() {
    let s = settings();
    let defaults = [
        ip("10.0.0.100"),
        dns("mr.example.com"),
        dns("vpn.example.com"),
    ];
    let w = import_warnings(
        slot(SlotKind::RemoteVirtual),
        &summary("vpn.example.com", vec![dns("*.example.com")]),
        &defaults,
        &s,
    );
    assert_eq!(
        w,
        ["the certificate does not name 10.0.0.100 which the remote-virtual slot serves: clients reaching it by those names will refuse it"]
    );
    let w = import_warnings(
        slot(SlotKind::Remote),
        &summary("other.example.com", vec![dns("vpn.example.com")]),
        &[dns("vpn.example.com")],
        &s,
    );
    assert_eq!(
        w,
        ["certificate subject CN other.example.com does not match remote access configuration vpn.example.com"]
    );
    let covered = import_warnings(
        slot(SlotKind::Local),
        &summary("router", vec![ip("10.0.0.2")]),
        &[ip("10.0.0.2")],
        &s,
    );
    assert!(covered.is_empty(), "{covered:?}");
}

#[test]
fn a_pending_certificate_says_how_to_activate_it() {
    assert_eq!(
        pending_note(slot(SlotKind::Remote)),
        "the new certificate is pending: activate it with mrctl cert activate --slot remote --node 2"
    );
    assert_eq!(
        pending_note(slot(SlotKind::LocalVirtual)),
        "the new certificate is pending: activate it with mrctl cert activate --slot local-virtual"
    );
}

#[test]
fn a_ca_subject_defaults_to_the_cluster_domain_and_us() {
    let (subject, warnings) = Subject::default().for_ca(Some("mr.example.com")).unwrap();
    assert_eq!(subject.common_name, "mr.example.com");
    assert_eq!(subject.country, "US");
    assert!(warnings.is_empty());
    let given = Subject {
        common_name: "Example Root".into(),
        country: "de".into(),
        ..Subject::default()
    };
    let (subject, _) = given.for_ca(Some("mr.example.com")).unwrap();
    assert_eq!(
        (subject.common_name.as_str(), subject.country.as_str()),
        ("Example Root", "DE")
    );
    match Subject::default().for_ca(None) {
        Err(DomainError::InvalidSubjectField { field, reason }) => {
            assert_eq!(field, "common_name");
            assert!(reason.contains("no cluster domain"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_blank_key_type_takes_the_default() {
    assert_eq!(
        KeySpec::parse_or(" ", KeySpec::EcdsaP256),
        Ok(KeySpec::EcdsaP256)
    );
    assert_eq!(
        KeySpec::parse_or("RSA3072", KeySpec::EcdsaP256),
        Ok(KeySpec::Rsa3072)
    );
    assert_eq!(
        KeySpec::parse_or("rsa1024", KeySpec::Rsa2048),
        Err(DomainError::WeakKey { bits: 1024 })
    );
}
