//! Tests of the client rules: provisioning, replacement, re-provisioning
//! after a CA change, revocation, counts and paged listings by state.

use super::tests::MemState;
use super::*;

fn install_ca(s: &mut MemState, replaces: u64) {
    s.must_apply(Command::InstallCa {
        ca: Box::new(SealedCert {
            der: vec![replaces as u8],
            chain_der: vec![],
            sealed_key: vec![1],
            summary: super::tests::test_summary(vec![]),
            origin: Origin::Generated,
        }),
        replaces_epoch: replaces,
        confirm_invalidate_clients: true,
    })
    .unwrap();
}

fn client(id: &str, user: &str, epoch: u64, not_after: i64) -> ClientRecord {
    ClientRecord {
        id: id.into(),
        user: user.into(),
        device: None,
        cert_der: vec![1, 2, 3],
        serial: format!("{id}-{epoch}"),
        spki_der: vec![4, 5],
        key_type: "ecdsa-p256".into(),
        key_origin: KeyOrigin::Csr,
        ca_epoch: epoch,
        not_before: 0,
        not_after,
        provisioned_at_ms: 1,
        revoked: None,
    }
}

fn provision(s: &mut MemState, c: ClientRecord, replace: bool, reprovision: bool) -> Outcome {
    s.must_apply(Command::ProvisionClient {
        client: Box::new(c),
        replace,
        reprovision,
    })
}

fn list(s: &MemState, filter: ClientFilter, after: Option<Vec<u8>>, limit: u32) -> ClientPage {
    match query(
        s,
        &Query::ListClients {
            filter,
            after,
            limit,
            now: 1_000,
        },
    )
    .unwrap()
    .unwrap()
    {
        QueryReply::Clients(p) => p,
        other => panic!("{other:?}"),
    }
}

fn ids(p: &ClientPage) -> Vec<&str> {
    p.clients.iter().map(|c| c.id.as_str()).collect()
}

fn by_state(state: ClientState) -> ClientFilter {
    ClientFilter {
        state: Some(state),
        user: None,
    }
}

fn counts(s: &MemState) -> Vec<(u64, u64)> {
    match query(s, &Query::ClientCounts).unwrap().unwrap() {
        QueryReply::ClientCounts { by_epoch, .. } => by_epoch,
        other => panic!("{other:?}"),
    }
}

#[test]
fn provisioning_needs_a_ca_and_refuses_duplicates() {
    let mut s = MemState::default();
    assert_eq!(
        provision(&mut s, client("a", "u", 1, 9_999), false, false),
        Err(DomainError::NoCa)
    );
    install_ca(&mut s, 0);
    provision(&mut s, client("a", "u", 1, 9_999), false, false).unwrap();
    let before = s.recomputed_digest();
    assert_eq!(
        provision(&mut s, client("a", "v", 1, 9_999), false, false),
        Err(DomainError::ClientExists { id: "a".into() })
    );
    assert_eq!(s.recomputed_digest(), before);
    provision(&mut s, client("a", "v", 1, 9_999), true, false).unwrap();
    assert_eq!(counts(&s), vec![(1, 1)], "replacing keeps one live client");
    let by_user = |u: &str| ClientFilter {
        state: None,
        user: Some(u.into()),
    };
    assert!(list(&s, by_user("u"), None, 10).clients.is_empty());
    assert_eq!(ids(&list(&s, by_user("v"), None, 10)), ["a"]);
}

#[test]
fn a_new_ca_invalidates_without_touching_clients_and_reprovision_moves_them() {
    let mut s = MemState::default();
    install_ca(&mut s, 0);
    for id in ["a", "b", "c"] {
        provision(&mut s, client(id, "u", 1, 9_999), false, false).unwrap();
    }
    let client_records = |s: &MemState| -> Vec<(Vec<u8>, Vec<u8>)> {
        s.records
            .iter()
            .filter(|(k, _)| k.starts_with(b"d/client") || k.starts_with(b"d/cidx"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let before = client_records(&s);
    install_ca(&mut s, 1);
    // O(1): the CA record changed, no client record did.
    assert_eq!(client_records(&s), before);
    assert_eq!(
        ids(&list(&s, by_state(ClientState::Invalidated), None, 10)),
        ["a", "b", "c"]
    );
    assert!(list(&s, by_state(ClientState::Provisioned), None, 10)
        .clients
        .is_empty());
    // A client signed under the old epoch is refused now.
    assert!(matches!(
        provision(&mut s, client("d", "u", 1, 9_999), false, false),
        Err(DomainError::CaChanged { .. })
    ));
    provision(&mut s, client("b", "u", 2, 9_999), false, true).unwrap();
    assert_eq!(
        ids(&list(&s, by_state(ClientState::Invalidated), None, 10)),
        ["a", "c"]
    );
    assert_eq!(
        ids(&list(&s, by_state(ClientState::Provisioned), None, 10)),
        ["b"]
    );
    assert_eq!(counts(&s), vec![(1, 2), (2, 1)]);
    assert_eq!(
        provision(&mut s, client("zz", "u", 2, 9_999), false, true),
        Err(DomainError::UnknownClient { id: "zz".into() })
    );
}

#[test]
fn revoked_clients_leave_the_count_and_cannot_be_reprovisioned() {
    let mut s = MemState::default();
    install_ca(&mut s, 0);
    provision(&mut s, client("a", "u", 1, 9_999), false, false).unwrap();
    provision(&mut s, client("old", "u", 1, 10), false, false).unwrap();
    let revoke = |s: &mut MemState, id: &str| {
        s.must_apply(Command::RevokeClient {
            id: id.into(),
            reason: "lost phone".into(),
        })
    };
    revoke(&mut s, "a").unwrap();
    assert_eq!(
        revoke(&mut s, "a"),
        Err(DomainError::ClientAlreadyRevoked { id: "a".into() })
    );
    assert_eq!(
        revoke(&mut s, "nobody"),
        Err(DomainError::UnknownClient {
            id: "nobody".into()
        })
    );
    assert_eq!(counts(&s), vec![(1, 1)]);
    assert_eq!(
        ids(&list(&s, by_state(ClientState::Revoked), None, 10)),
        ["a"]
    );
    assert_eq!(
        ids(&list(&s, by_state(ClientState::Expired), None, 10)),
        ["old"]
    );
    assert_eq!(
        provision(&mut s, client("a", "u", 1, 9_999), false, true),
        Err(DomainError::ClientIsRevoked { id: "a".into() })
    );
    match query(&s, &Query::RevokedClients).unwrap().unwrap() {
        QueryReply::RevokedClients { clients, .. } => {
            assert_eq!(clients[0].revoked.as_ref().unwrap().reason, "lost phone")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn listings_page_through_every_match_once() {
    let mut s = MemState::default();
    install_ca(&mut s, 0);
    let all: Vec<String> = (0..250).map(|i| format!("c{i:04}")).collect();
    for id in &all {
        provision(&mut s, client(id, "u", 1, 9_999), false, false).unwrap();
    }
    for filter in [ClientFilter::default(), by_state(ClientState::Provisioned)] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = list(&s, filter.clone(), after, 40);
            seen.extend(page.clients.iter().map(|c| c.id.clone()));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, all);
    }
}

#[test]
fn client_ids_are_validated() {
    assert!(validate_client_name("id", "alice.phone-1@corp").is_ok());
    for bad in ["", "a/b", "with space", &"x".repeat(129)] {
        assert!(matches!(
            validate_client_name("id", bad),
            Err(DomainError::InvalidClientField { .. })
        ));
    }
}

fn proposal(n: u8, command: Command) -> Proposal {
    Proposal {
        request_id: RequestId([n; 16]),
        at_ms: 1_700_000_000_000 + n as u64,
        command,
    }
}

fn provision_cmd(c: ClientRecord, replace: bool) -> Command {
    Command::ProvisionClient {
        client: Box::new(c),
        replace,
        reprovision: false,
    }
}

#[test]
fn a_batch_applies_exactly_like_its_proposals_one_by_one() {
    let mut one_by_one = MemState::default();
    install_ca(&mut one_by_one, 0);
    let mut batched = one_by_one.clone();
    let proposals = vec![
        proposal(1, provision_cmd(client("a", "u1", 1, 9_999), false)),
        proposal(2, provision_cmd(client("b", "u1", 1, 9_999), false)),
        // The same id again: refused, and nothing of it is written.
        proposal(3, provision_cmd(client("a", "u2", 1, 9_999), false)),
        proposal(
            4,
            Command::RevokeClient {
                id: "b".into(),
                reason: "lost".into(),
            },
        ),
        // A retry of the first: applied once.
        proposal(1, provision_cmd(client("a", "u1", 1, 9_999), false)),
        proposal(5, provision_cmd(client("a", "u3", 1, 9_999), true)),
    ];
    let expected: Vec<Outcome> = proposals
        .iter()
        .map(|p| one_by_one.apply_at(p, 7))
        .collect();
    let outcome = batched.apply_at(&proposal(9, Command::Batch(proposals)), 7);
    let Ok(Reply::Batch(outcomes)) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(outcomes, expected);
    assert!(matches!(outcomes[2], Err(DomainError::ClientExists { .. })));
    assert!(matches!(
        outcomes[4],
        Ok(Reply::AlreadyApplied { log_index: 7 })
    ));
    assert_eq!(batched.records, one_by_one.records);
    assert_eq!(batched.digest(), one_by_one.digest());
    assert_eq!(batched.digest(), batched.recomputed_digest());
    // a (replaced) counts; b is revoked.
    assert_eq!(counts(&batched), vec![(1, 1)]);

    // The whole batch again: every proposal reports its earlier application.
    let before = batched.records.clone();
    let again = batched.apply_at(
        &proposal(
            9,
            Command::Batch(vec![proposal(
                2,
                provision_cmd(client("b", "u1", 1, 9_999), false),
            )]),
        ),
        8,
    );
    assert_eq!(
        again,
        Ok(Reply::Batch(vec![Ok(Reply::AlreadyApplied {
            log_index: 7
        })]))
    );
    assert_eq!(batched.records, before);
}

#[test]
fn a_batch_refuses_commands_that_may_not_be_batched_and_applies_the_rest() {
    let mut s = MemState::default();
    install_ca(&mut s, 0);
    let ca_before = s.records.get(&Key::Ca.encode()).cloned();
    let outcome = s.apply_at(
        &proposal(
            9,
            Command::Batch(vec![
                proposal(1, Command::Batch(vec![])),
                proposal(2, provision_cmd(client("a", "u1", 1, 9_999), false)),
                proposal(
                    3,
                    Command::InstallCa {
                        ca: Box::new(SealedCert {
                            der: vec![7],
                            chain_der: vec![],
                            sealed_key: vec![1],
                            summary: super::tests::test_summary(vec![]),
                            origin: Origin::Generated,
                        }),
                        replaces_epoch: 1,
                        confirm_invalidate_clients: true,
                    },
                ),
            ]),
        ),
        5,
    );
    let Ok(Reply::Batch(outcomes)) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        matches!(&outcomes[0], Err(DomainError::NotBatchable { command }) if command == "batch")
    );
    assert!(matches!(outcomes[1], Ok(Reply::Client(_))));
    assert!(
        matches!(&outcomes[2], Err(DomainError::NotBatchable { command }) if command == "install-ca")
    );
    assert_eq!(s.records.get(&Key::Ca.encode()).cloned(), ca_before);
    assert_eq!(counts(&s), vec![(1, 1)]);
}

#[test]
fn a_page_token_from_another_listing_is_refused() {
    let mut s = MemState::default();
    install_ca(&mut s, 0);
    for id in ["a", "b", "c"] {
        provision(&mut s, client(id, "u", 1, 9_999), false, false).unwrap();
    }
    let page = list(&s, ClientFilter::default(), None, 1);
    let token = page.next.expect("more than one page");
    let by_revoked = Query::ListClients {
        filter: by_state(ClientState::Revoked),
        after: Some(token),
        limit: 10,
        now: 1_000,
    };
    assert!(matches!(
        query(&s, &by_revoked).unwrap(),
        Err(DomainError::InvalidPageToken)
    ));
    let garbage = Query::ListClients {
        filter: ClientFilter::default(),
        after: Some(b"garbage".to_vec()),
        limit: 10,
        now: 1_000,
    };
    assert!(matches!(
        query(&s, &garbage).unwrap(),
        Err(DomainError::InvalidPageToken)
    ));
}

#[test]
fn bidirectional_text_controls_are_refused_in_a_device() {
    assert!(validate_device("Pixel 8 (work)").is_ok());
    for bad in [
        "evil\u{202E}gpj.exe",
        "a\u{2066}b",
        "x\u{200F}",
        "tab\there",
    ] {
        assert!(
            matches!(
                validate_device(bad),
                Err(DomainError::InvalidClientField { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_long_refused_value_is_echoed_cut() {
    let long = "a".repeat(10_000);
    let err = DomainError::InvalidSan {
        value: long,
        reason: "too long".into(),
    };
    let text = err.to_string();
    assert!(text.len() < 200, "{text}");
    assert!(text.contains("(10000 characters)"), "{text}");
}
