//! Tests of the certificate store's rules: subject and SAN validation, CA
//! installation and replacement, slot certificates, CSRs and activation.

use super::tests::MemState;
use super::*;

fn summary(sans: &[&str], spki: &str) -> CertSummary {
    CertSummary {
        subject: "CN=test".into(),
        common_name: Some("test".into()),
        issuer: "CN=ca".into(),
        serial: "01".into(),
        not_before: 0,
        not_after: 4_000_000_000,
        sans: sans.iter().map(|s| San::parse(s).unwrap()).collect(),
        key_type: "ecdsa-p256".into(),
        fingerprint_sha256: "AA".into(),
        spki_sha256: spki.into(),
        is_ca: false,
    }
}

fn new_ca(tag: &str) -> SealedCert {
    SealedCert {
        der: tag.as_bytes().to_vec(),
        chain_der: vec![],
        sealed_key: b"sealed".to_vec(),
        summary: summary(&[], tag),
        origin: Origin::Generated,
    }
}

fn slot_cert(sans: &[&str], ca_epoch: Option<u64>) -> SlotCert {
    SlotCert {
        cert: SealedCert {
            der: b"leaf".to_vec(),
            chain_der: vec![],
            sealed_key: b"sealed".to_vec(),
            summary: summary(sans, "leafkey"),
            origin: Origin::Generated,
        },
        ca_epoch,
        installed_at_ms: 1,
    }
}

fn install(s: &mut MemState, replaces: u64, confirm: bool) -> Outcome {
    s.must_apply(Command::InstallCa {
        ca: Box::new(new_ca("ca")),
        replaces_epoch: replaces,
        confirm_invalidate_clients: confirm,
    })
}

fn put(s: &mut MemState, slot: SlotId, cert: SlotCert, activate: bool) -> Outcome {
    s.must_apply(Command::PutSlotCert {
        slot,
        cert: Box::new(cert),
        activate,
        generated: true,
        from_csr: None,
    })
}

fn slot_of(s: &MemState, slot: SlotId) -> SlotRecord {
    match query(s, &Query::Slots(vec![slot])).unwrap().unwrap() {
        QueryReply::Slots(mut v) => v.pop().unwrap().1,
        other => panic!("{other:?}"),
    }
}

#[test]
fn first_ca_gets_epoch_one_and_replacing_needs_confirmation() {
    let mut s = MemState::default();
    assert_eq!(
        install(&mut s, 0, false),
        Ok(Reply::CaInstalled { epoch: 1 })
    );
    let before = s.recomputed_digest();
    assert_eq!(
        install(&mut s, 1, false),
        Err(DomainError::ConfirmationRequired { clients: 0 })
    );
    assert_eq!(
        s.recomputed_digest(),
        before,
        "a refused replacement changes nothing"
    );
    assert_eq!(
        install(&mut s, 1, true),
        Ok(Reply::CaInstalled { epoch: 2 })
    );
}

#[test]
fn a_ca_replaced_meanwhile_is_detected() {
    let mut s = MemState::default();
    install(&mut s, 0, false).unwrap();
    install(&mut s, 1, true).unwrap();
    assert_eq!(
        install(&mut s, 1, true),
        Err(DomainError::CaChanged {
            expected: 1,
            current: 2
        })
    );
}

#[test]
fn a_certificate_signed_by_an_older_ca_epoch_is_refused() {
    let mut s = MemState::default();
    install(&mut s, 0, false).unwrap();
    install(&mut s, 1, true).unwrap();
    let slot = SlotId::new(SlotKind::Local, 1);
    assert!(matches!(
        put(&mut s, slot, slot_cert(&["a.example.com"], Some(1)), false),
        Err(DomainError::CaChanged { .. })
    ));
    assert_eq!(slot_of(&s, slot), SlotRecord::default());
}

#[test]
fn new_certificates_are_pending_until_activated() {
    let mut s = MemState::default();
    let slot = SlotId::new(SlotKind::Remote, 2);
    put(&mut s, slot, slot_cert(&["r.example.com"], None), false).unwrap();
    let r = slot_of(&s, slot);
    assert!(r.active.is_none() && r.pending.is_some());
    assert!(r.last_generated_ms.is_some());
    s.must_apply(Command::ActivateSlot { slot }).unwrap();
    let r = slot_of(&s, slot);
    assert!(r.active.is_some() && r.pending.is_none());
    assert_eq!(
        s.must_apply(Command::ActivateSlot { slot }),
        Err(DomainError::NoPendingCertificate {
            slot: "remote of node 2".into()
        })
    );
}

#[test]
fn virtual_slot_needs_the_virtual_address_and_cluster_domain() {
    let mut s = MemState::default();
    let slot = SlotId::new(SlotKind::LocalVirtual, 7);
    assert_eq!(slot.node, None, "virtual slots are per cluster");
    put(&mut s, slot, slot_cert(&["other.example.com"], None), false).unwrap();
    assert!(matches!(
        s.must_apply(Command::ActivateSlot { slot }),
        Err(DomainError::NoVirtualAddress { .. })
    ));
    s.must_apply(Command::SetSettings(SettingsPatch {
        cluster_domain: Some("mr.example.com".into()),
        virtual_address: Some("10.0.0.9".into()),
        ..Default::default()
    }))
    .unwrap();
    let err = s.must_apply(Command::ActivateSlot { slot }).unwrap_err();
    assert_eq!(
        err,
        DomainError::VirtualNamesMissing {
            slot: "local-virtual".into(),
            missing: vec!["10.0.0.9".into(), "mr.example.com".into()]
        }
    );
    assert!(
        err.to_string().contains("10.0.0.9, mr.example.com"),
        "{err}"
    );
    put(
        &mut s,
        slot,
        slot_cert(&["ip:10.0.0.9", "*.example.com", "mr.example.com"], None),
        true,
    )
    .unwrap();
    assert!(slot_of(&s, slot).active.is_some());
}

#[test]
fn settings_that_move_the_virtual_names_off_the_active_certificate_warn() {
    let mut s = MemState::default();
    let slot = SlotId::new(SlotKind::RemoteVirtual, 1);
    let set = |s: &mut MemState, domain: &str, ip: &str| match s.must_apply(Command::SetSettings(
        SettingsPatch {
            cluster_domain: Some(domain.into()),
            virtual_address: Some(ip.into()),
            ..Default::default()
        },
    )) {
        Ok(Reply::Settings { warnings, .. }) => warnings,
        other => panic!("{other:?}"),
    };
    assert!(set(&mut s, "mr.example.com", "10.0.0.9").is_empty());
    put(
        &mut s,
        slot,
        slot_cert(&["ip:10.0.0.9", "mr.example.com"], None),
        true,
    )
    .unwrap();
    assert!(
        set(&mut s, "mr.example.com", "10.0.0.9").is_empty(),
        "unchanged names"
    );
    let warnings = set(&mut s, "mr.example.org", "10.0.0.10");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("remote-virtual certificate does not name 10.0.0.10, mr.example.org"),
        "{warnings:?}"
    );
}

#[test]
fn an_import_for_a_replaced_csr_is_refused() {
    let mut s = MemState::default();
    let slot = SlotId::new(SlotKind::Local, 1);
    let csr = |spki: &str| SlotCsr {
        csr_der: b"csr".to_vec(),
        sealed_key: b"sealed".to_vec(),
        subject: "CN=x".into(),
        sans: vec![],
        key_type: "rsa2048".into(),
        spki_sha256: spki.into(),
        created_at_ms: 1,
    };
    s.must_apply(Command::PutSlotCsr {
        slot,
        csr: Box::new(csr("first")),
    })
    .unwrap();
    s.must_apply(Command::PutSlotCsr {
        slot,
        csr: Box::new(csr("second")),
    })
    .unwrap();
    assert_eq!(slot_of(&s, slot).csr.unwrap().spki_sha256, "second");
    let outcome = s.must_apply(Command::PutSlotCert {
        slot,
        cert: Box::new(slot_cert(&["x.example.com"], None)),
        activate: false,
        generated: false,
        from_csr: Some("first".into()),
    });
    assert!(matches!(outcome, Err(DomainError::CsrChanged { .. })));
}

#[test]
fn rsa_below_2048_is_refused_with_the_reason() {
    let err = "rsa1024".parse::<KeySpec>().unwrap_err();
    assert_eq!(err, DomainError::WeakKey { bits: 1024 });
    assert!(err.to_string().contains("2048"), "{err}");
    assert_eq!("ECDSA-P256".parse::<KeySpec>(), Ok(KeySpec::EcdsaP256));
    assert!(matches!(
        "dsa".parse::<KeySpec>(),
        Err(DomainError::UnknownKeyType { .. })
    ));
}

fn subject(country: &str, state: Option<&str>, cn: &str) -> Subject {
    Subject {
        country: country.into(),
        state: state.map(Into::into),
        common_name: cn.into(),
        ..Default::default()
    }
}

#[test]
fn country_must_be_two_letters() {
    let err = subject("USA", None, "a.example.com")
        .validate()
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::InvalidCountry {
            value: "USA".into()
        }
    );
    let (s, _) = subject("de", None, "a.example.com").validate().unwrap();
    assert_eq!(s.country, "DE");
    assert_eq!(
        subject("ZZ", None, "a.example.com").validate().unwrap_err(),
        DomainError::InvalidCountry { value: "ZZ".into() },
        "two letters are not enough: the code must be assigned"
    );
}

#[test]
fn empty_common_name_is_refused() {
    assert_eq!(
        subject("US", None, "  ").validate().unwrap_err(),
        DomainError::EmptyCommonName
    );
}

#[test]
fn two_letter_state_warns() {
    let (_, warnings) = subject("US", Some("CA"), "x").validate().unwrap();
    assert!(warnings[0].contains("spell"), "{warnings:?}");
    let (_, warnings) = subject("US", Some("California"), "x").validate().unwrap();
    assert!(warnings.is_empty());
}

#[test]
fn bad_sans_are_refused_with_the_reason() {
    for bad in [
        "exa mple.com",
        "300.1.1.1",
        "*.*.example.com",
        "dns:",
        "ip:1.2.3",
    ] {
        let err = San::parse(bad).unwrap_err();
        assert!(
            matches!(err, DomainError::InvalidSan { .. }),
            "{bad}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains(bad.trim_start_matches("dns:").trim_start_matches("ip:")),
            "{err}"
        );
    }
    assert_eq!(
        San::parse("*.Example.com").unwrap(),
        San::Dns("*.example.com".into())
    );
    assert_eq!(
        San::parse("ip:::1").unwrap(),
        San::Ip("::1".parse().unwrap())
    );
}

#[test]
fn wildcards_cover_one_label() {
    let w = San::parse("*.example.com").unwrap();
    assert!(w.covers("mr.example.com"));
    assert!(!w.covers("example.com"));
    assert!(!w.covers("a.b.example.com"));
    assert!(San::parse("10.0.0.1").unwrap().covers("10.0.0.1"));
    assert!(!w.covers("10.0.0.1"));
}
