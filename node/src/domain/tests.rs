use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// An in-memory state for tests: what the storage layer does, minus RocksDB.
#[derive(Default, Clone)]
pub(super) struct MemState {
    pub(super) records: BTreeMap<Vec<u8>, Vec<u8>>,
    digest: StateDigest,
    next_index: u64,
}

#[derive(Debug)]
pub(super) enum MemError {}

impl From<CorruptRecord> for MemError {
    fn from(e: CorruptRecord) -> Self {
        panic!("test state holds a corrupt record: {e}")
    }
}

impl StateView for MemState {
    type Error = MemError;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MemError> {
        Ok(self.records.get(key).cloned())
    }
    fn digest(&self) -> StateDigest {
        self.digest
    }
    fn scan(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, MemError> {
        let from = start.max(prefix).to_vec();
        Ok(self
            .records
            .range(from..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

impl MemState {
    pub(super) fn must_apply(&mut self, command: Command) -> Outcome {
        self.next_index += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_index.to_be_bytes());
        self.apply_with_id(RequestId(id), command)
    }

    fn apply_with_id(&mut self, request_id: RequestId, command: Command) -> Outcome {
        let proposal = Proposal {
            request_id,
            at_ms: 1_700_000_000_000 + self.next_index,
            command,
        };
        self.apply_at(&proposal, self.next_index)
    }

    /// Applies `proposal` as the entry at `log_index`, writing its changes.
    pub(super) fn apply_at(&mut self, proposal: &Proposal, log_index: u64) -> Outcome {
        let applied = apply(self, proposal, log_index).unwrap_or_else(|e: MemError| match e {});
        for change in applied.changes {
            let old = self.records.get(&change.key).cloned();
            if Key::is_domain(&change.key) {
                self.digest
                    .update(&change.key, old.as_deref(), change.value.as_deref());
            }
            match change.value {
                Some(v) => self.records.insert(change.key, v),
                None => self.records.remove(&change.key),
            };
        }
        applied.outcome
    }

    pub(super) fn recomputed_digest(&self) -> StateDigest {
        let mut d = StateDigest::default();
        for (k, v) in self.records.iter().filter(|(k, _)| Key::is_domain(k)) {
            d.update(k, None, Some(v));
        }
        d
    }
}

fn patch(f: impl FnOnce(&mut SettingsPatch)) -> Command {
    let mut p = SettingsPatch::default();
    f(&mut p);
    Command::SetSettings(p)
}

#[test]
fn settings_change_only_the_fields_given() {
    let mut s = MemState::default();
    s.must_apply(patch(|p| p.cluster_domain = Some("Example.COM".into())))
        .unwrap();
    let out = s
        .must_apply(patch(|p| {
            p.remote_access_fqdn = Some("mr.example.com".into())
        }))
        .unwrap();
    let Reply::Settings { settings, warnings } = out else {
        panic!("unexpected reply {out:?}")
    };
    assert_eq!(settings.cluster_domain.as_deref(), Some("example.com"));
    assert_eq!(
        settings.remote_access_fqdn.as_deref(),
        Some("mr.example.com")
    );
    assert_eq!(settings.revision, 2);
    assert!(warnings.is_empty());
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let mut s = MemState::default();
    s.must_apply(patch(|p| p.cluster_domain = Some("example.com".into())))
        .unwrap();
    let before = s.records.clone();
    for bad in [
        patch(|p| p.cluster_domain = Some("exa mple.com".into())),
        patch(|p| p.remote_access_fqdn = Some("-bad.example.com".into())),
        patch(|p| p.remote_access_fqdn = Some("a..b".into())),
        patch(|p| p.virtual_address = Some("300.1.1.1".into())),
        patch(|p| p.mode = Some("cluster".into())),
        patch(|p| p.mode = Some("clustered".into())),
    ] {
        let err = s.must_apply(bad).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert_eq!(
            s.records, before,
            "a refused command changed the state: {err}"
        );
    }
}

#[test]
fn clustered_mode_with_virtual_address_is_accepted() {
    let mut s = MemState::default();
    let out = s
        .must_apply(patch(|p| {
            p.mode = Some("clustered".into());
            p.virtual_address = Some("192.0.2.10".into());
        }))
        .unwrap();
    let Reply::Settings { settings, .. } = out else {
        panic!()
    };
    assert_eq!(settings.mode, Mode::Clustered);
}

#[test]
fn remote_fqdn_outside_cluster_domain_warns() {
    let mut s = MemState::default();
    let out = s
        .must_apply(patch(|p| {
            p.cluster_domain = Some("example.com".into());
            p.remote_access_fqdn = Some("mr.example.org".into());
        }))
        .unwrap();
    let Reply::Settings { warnings, .. } = out else {
        panic!()
    };
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn a_retried_request_is_applied_once() {
    let mut s = MemState::default();
    let id = RequestId([7; 16]);
    s.next_index = 5;
    s.apply_with_id(id, patch(|p| p.cluster_domain = Some("a.example".into())))
        .unwrap();
    s.next_index = 6;
    let again = s
        .apply_with_id(id, patch(|p| p.cluster_domain = Some("a.example".into())))
        .unwrap();
    assert_eq!(again, Reply::AlreadyApplied { log_index: 5 });
    let settings = query(&s, &Query::Settings).unwrap().unwrap();
    let QueryReply::Settings(settings) = settings else {
        panic!()
    };
    assert_eq!(settings.revision, 1);
    let found = query(&s, &Query::LookupWrite(id)).unwrap().unwrap();
    assert_eq!(
        found,
        QueryReply::LookupWrite {
            log_index: Some(5),
            digest: None
        }
    );
}

/// Regression (issue 14): the same request id with a different request
/// returned the first request's result.
#[test]
fn a_request_id_reused_for_another_request_is_refused() {
    let mut s = MemState::default();
    let id = RequestId([9; 16]);
    let (first, other) = (RequestDigest([1; 32]), RequestDigest([2; 32]));
    let set = |domain: &str, digest| {
        Command::digested(
            patch(|p| p.cluster_domain = Some(domain.into())),
            Some(digest),
        )
    };
    s.next_index = 3;
    s.apply_with_id(id, set("a.example", first)).unwrap();
    let again = s.apply_with_id(id, set("a.example", first)).unwrap();
    assert_eq!(again, Reply::AlreadyApplied { log_index: 3 });
    let refused = s.apply_with_id(id, set("b.example", other)).unwrap_err();
    assert!(
        matches!(refused, DomainError::RequestIdReused { .. }),
        "{refused:?}"
    );
    assert!(refused
        .to_string()
        .contains("was used for a different request"));
    let QueryReply::Settings(settings) = query(&s, &Query::Settings).unwrap().unwrap() else {
        panic!()
    };
    assert_eq!(settings.cluster_domain.as_deref(), Some("a.example"));
    assert_eq!(
        query(&s, &Query::LookupWrite(id)).unwrap().unwrap(),
        QueryReply::LookupWrite {
            log_index: Some(3),
            digest: Some(first)
        }
    );
}

/// Regression (issue 14, item 1): the listener records nodes write at start
/// made every `mrd dev` cluster "already hold data".
#[test]
fn restore_into_a_cluster_holding_only_listener_records_keeps_them() {
    let listeners = |local: &str| {
        Command::SetNodeEndpoints(NodeEndpoints {
            node: 1,
            local: local.into(),
            ..Default::default()
        })
    };
    let mut src = MemState::default();
    src.must_apply(listeners("127.0.0.1:7101")).unwrap();
    src.must_apply(patch(|p| p.cluster_domain = Some("example.com".into())))
        .unwrap();
    let records: Vec<_> = src
        .records
        .iter()
        .filter(|(k, _)| Key::is_domain(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // What the replica sends: the backup's digest without its listener records.
    let mut digest = src.digest;
    for (k, v) in records.iter().filter(|(k, _)| Key::is_node_reported(k)) {
        digest.update(k, Some(v), None);
    }

    let mut dst = MemState::default();
    dst.must_apply(listeners("127.0.0.1:9101")).unwrap();
    assert!(!holds_operator_records(&dst).unwrap_or_else(|e| match e {}));
    let n = records.len() as u64;
    dst.must_apply(Command::RestoreBegin { records: n, digest })
        .unwrap();
    dst.must_apply(Command::RestoreChunk { records }).unwrap();
    let finished = dst
        .must_apply(Command::RestoreFinish { records: n, digest })
        .unwrap();
    assert_eq!(
        finished,
        Reply::Restored {
            records: n,
            digest: dst.digest
        }
    );
    match query(&dst, &Query::NodeEndpoints).unwrap().unwrap() {
        QueryReply::NodeEndpoints(all) => {
            assert_eq!(all.len(), 1);
            assert_eq!(
                all[0].local, "127.0.0.1:9101",
                "the cluster's own, not the backup's"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(holds_operator_records(&dst).unwrap_or_else(|e| match e {}));
}

#[test]
fn restore_reproduces_the_digest_and_needs_an_empty_cluster() {
    let mut src = MemState::default();
    src.must_apply(patch(|p| p.cluster_domain = Some("example.com".into())))
        .unwrap();
    src.must_apply(patch(|p| {
        p.remote_access_fqdn = Some("mr.example.com".into())
    }))
    .unwrap();
    let records: Vec<_> = src
        .records
        .iter()
        .filter(|(k, _)| Key::is_domain(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let n = records.len() as u64;

    let mut dst = MemState::default();
    dst.must_apply(Command::RestoreBegin {
        records: n,
        digest: src.digest,
    })
    .unwrap();
    dst.must_apply(Command::RestoreChunk { records }).unwrap();
    dst.must_apply(Command::RestoreFinish {
        records: n,
        digest: src.digest,
    })
    .unwrap();
    assert_eq!(dst.digest, src.digest);
    // Once restored, the cluster is no longer fresh.
    let again = dst.must_apply(Command::RestoreBegin {
        records: n,
        digest: src.digest,
    });
    assert_eq!(again, Err(DomainError::NotEmpty));

    let err = src
        .must_apply(Command::RestoreBegin {
            records: n,
            digest: src.digest,
        })
        .unwrap_err();
    assert_eq!(err, DomainError::NotEmpty);
}

#[test]
fn restore_finish_with_a_wrong_digest_is_refused() {
    let mut dst = MemState::default();
    let claimed = StateDigest([9; 32]);
    dst.must_apply(Command::RestoreBegin {
        records: 0,
        digest: claimed,
    })
    .unwrap();
    let err = dst
        .must_apply(Command::RestoreFinish {
            records: 0,
            digest: claimed,
        })
        .unwrap_err();
    assert!(matches!(err, DomainError::RestoreDigestMismatch { .. }));
}

#[test]
fn foreign_records_are_refused_on_restore() {
    let mut dst = MemState::default();
    dst.must_apply(Command::RestoreBegin {
        records: 1,
        digest: StateDigest::default(),
    })
    .unwrap();
    let err = dst
        .must_apply(Command::RestoreChunk {
            records: vec![(b"x/req/zz".to_vec(), vec![1])],
        })
        .unwrap_err();
    assert_eq!(err, DomainError::ForeignRecord);
}

#[test]
fn dns_names() {
    assert!(validate_dns_name("mr.example.com").is_ok());
    assert!(validate_dns_name("mr.example.com.").is_ok());
    for bad in [
        "",
        "exa mple.com",
        "a..b",
        "-a.com",
        "a-.com",
        "1.2.3.4",
        "*.example.com",
        "a.123",
    ] {
        assert!(validate_dns_name(bad).is_err(), "{bad} accepted");
    }
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![arb_settings(), arb_cert_command()]
}

fn arb_cert_command() -> impl Strategy<Value = Command> {
    let slot = (0usize..4, 1u64..3).prop_map(|(k, n)| SlotId::new(SlotKind::ALL[k], n));
    let names = prop_oneof![
        Just(vec![San::Ip("192.0.2.1".parse().unwrap())]),
        Just(vec![San::Dns("*.example.com".into())]),
        Just(vec![]),
    ];
    prop_oneof![
        (0u64..3, any::<bool>()).prop_map(|(replaces, confirm)| Command::InstallCa {
            ca: Box::new(SealedCert {
                der: vec![1, 2, 3],
                chain_der: vec![],
                sealed_key: vec![9; 8],
                summary: test_summary(vec![]),
                origin: Origin::Generated,
            }),
            replaces_epoch: replaces,
            confirm_invalidate_clients: confirm,
        }),
        (
            slot.clone(),
            names,
            proptest::option::of(1u64..3),
            any::<bool>()
        )
            .prop_map(|(slot, sans, ca_epoch, activate)| Command::PutSlotCert {
                slot,
                cert: Box::new(SlotCert {
                    cert: SealedCert {
                        der: vec![4, 5],
                        chain_der: vec![],
                        sealed_key: vec![7; 8],
                        summary: test_summary(sans),
                        origin: Origin::Imported,
                    },
                    ca_epoch,
                    installed_at_ms: 5,
                }),
                activate,
                generated: true,
                from_csr: None,
            }),
        slot.prop_map(|slot| Command::ActivateSlot { slot }),
    ]
}

pub(super) fn test_summary(sans: Vec<San>) -> CertSummary {
    CertSummary {
        subject: "CN=x".into(),
        common_name: Some("x".into()),
        issuer: "CN=ca".into(),
        serial: "01".into(),
        not_before: 0,
        not_after: 1,
        sans,
        key_type: "ecdsa-p256".into(),
        fingerprint_sha256: "00".into(),
        spki_sha256: "11".into(),
        is_ca: false,
    }
}

fn arb_settings() -> impl Strategy<Value = Command> {
    let name = prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}\\.example\\.com",
        Just("bad name".to_string()),
    ];
    let ip = prop_oneof![
        Just(String::new()),
        Just("192.0.2.1".into()),
        Just("300.1.1.1".into())
    ];
    let mode = prop_oneof![
        Just("standalone".to_string()),
        Just("clustered".into()),
        Just("x".into())
    ];
    (
        proptest::option::of(name.clone()),
        proptest::option::of(name),
        proptest::option::of(ip),
        proptest::option::of(mode),
    )
        .prop_map(
            |(cluster_domain, remote_access_fqdn, virtual_address, mode)| {
                Command::SetSettings(SettingsPatch {
                    cluster_domain,
                    remote_access_fqdn,
                    virtual_address,
                    mode,
                })
            },
        )
}

proptest! {
    #[test]
    fn replaying_the_same_commands_gives_the_same_digest(cmds in proptest::collection::vec(arb_command(), 0..40)) {
        let mut a = MemState::default();
        let mut b = MemState::default();
        let outcomes_a: Vec<_> = cmds.iter().cloned().map(|c| a.must_apply(c)).collect();
        let outcomes_b: Vec<_> = cmds.iter().cloned().map(|c| b.must_apply(c)).collect();
        prop_assert_eq!(outcomes_a, outcomes_b);
        prop_assert_eq!(a.digest, b.digest);
        prop_assert_eq!(&a.records, &b.records);
        prop_assert_eq!(a.digest, a.recomputed_digest());
    }
}

#[test]
fn digest_is_order_independent() {
    let mut a = StateDigest::default();
    let mut b = StateDigest::default();
    a.update(b"d/1", None, Some(b"x"));
    a.update(b"d/2", None, Some(b"y"));
    b.update(b"d/2", None, Some(b"y"));
    b.update(b"d/1", None, Some(b"x"));
    assert_eq!(a, b);
    a.update(b"d/1", Some(b"x"), None);
    a.update(b"d/2", Some(b"y"), None);
    assert_eq!(a, StateDigest::default());
}

#[test]
fn a_key_changed_twice_by_one_proposal_is_digested_once() {
    let mut base = MemState::default();
    base.records.insert(b"d/k".to_vec(), b"v1".to_vec());
    base.digest.update(b"d/k", None, Some(b"v1"));
    let mut state = Layered::tracking_digest(&base);
    state
        .extend(vec![
            Change {
                key: b"d/k".to_vec(),
                value: None,
            },
            Change {
                key: b"d/k".to_vec(),
                value: Some(b"v2".to_vec()),
            },
        ])
        .unwrap_or_else(|e: MemError| match e {});
    let mut expected = StateDigest::default();
    expected.update(b"d/k", None, Some(b"v2"));
    assert_eq!(state.digest(), expected);
    assert_eq!(
        state.into_changes(),
        vec![Change {
            key: b"d/k".to_vec(),
            value: Some(b"v2".to_vec()),
        }]
    );
}

#[test]
fn a_layered_view_knows_when_its_changes_delete_every_operator_record() {
    let mut base = MemState::default();
    base.records.insert(b"d/a".to_vec(), b"1".to_vec());
    base.records.insert(b"x/req/1".to_vec(), b"1".to_vec());
    let mut state = Layered::new(&base);
    assert!(holds_operator_records(&state).unwrap_or_else(|e| match e {}));
    state
        .extend(vec![Change {
            key: b"d/a".to_vec(),
            value: None,
        }])
        .unwrap_or_else(|e| match e {});
    assert!(!holds_operator_records(&state).unwrap_or_else(|e| match e {}));
    state
        .extend(vec![Change {
            key: b"d/b".to_vec(),
            value: Some(b"2".to_vec()),
        }])
        .unwrap_or_else(|e| match e {});
    assert!(holds_operator_records(&state).unwrap_or_else(|e| match e {}));
}
