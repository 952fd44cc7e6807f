use std::os::unix::fs::PermissionsExt;

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn parse(args: &str) -> Result<ClientCmd, clap::Error> {
    Cli::try_parse_from(std::iter::once("mrctl").chain(args.split_whitespace())).map(
        |cli| match cli.command {
            Command::Client(cmd) => cmd,
            other => panic!("not a client command: {other:?}"),
        },
    )
}

fn refused(args: &str) {
    if let Ok(cmd) = parse(args) {
        panic!("{args:?} was accepted: {cmd:?}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn info(id: &str) -> ClientInfo {
    ClientInfo {
        id: id.into(),
        ..Default::default()
    }
}

fn page(ids: &[&str], next: &str) -> ListClientsReply {
    ListClientsReply {
        clients: ids.iter().map(|id| info(id)).collect(),
        next_page_token: next.to_string(),
        current_epoch: 2,
    }
}

#[test]
fn provision_parses_every_delivery() {
    let cmd = parse("client provision --id phone-1 --user alice --device Pixel --days 30 --replace --key ecdsa-p384 --p12 c.p12 --password-file pw --bundle out").unwrap();
    let ClientCmd::Provision {
        id,
        user,
        device,
        days,
        replace,
        key_type,
        p12,
        password_file,
        bundle,
        csr,
        key_out,
    } = cmd
    else {
        panic!("{cmd:?}");
    };
    assert_eq!((id.as_str(), user.as_str()), ("phone-1", "alice"));
    assert_eq!(device.as_deref(), Some("Pixel"));
    assert_eq!(days, Some(30));
    assert!(replace);
    assert_eq!(key_type, Some(mrouter_proto::v1::KeyType::EcdsaP384 as i32));
    assert_eq!(p12, Some(PathBuf::from("c.p12")));
    assert_eq!(password_file, Some(PathBuf::from("pw")));
    assert_eq!(bundle, Some(PathBuf::from("out")));
    assert!(csr.is_none() && key_out.is_none());
    parse("client provision --id p --user u --csr c.csr").unwrap();
}

#[test]
fn p12_and_its_password_come_together() {
    refused("client provision --id p --user u --p12 c.p12");
    refused("client provision --id p --user u --password-file pw");
    // With --key-out present clap lets the conflict excuse the missing --p12.
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "x").unwrap();
    let err = Delivery::prepare(None, Some(pw), Some(tmp.path().join("k")), None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("applies to --p12"), "{err}");
}

#[test]
fn a_csr_excludes_every_server_key_option() {
    refused("client provision --id p --user u --csr c.csr --key-out k");
    refused("client provision --id p --user u --csr c.csr --key rsa2048");
    refused("client provision --id p --user u --csr c.csr --p12 c.p12 --password-file pw");
    refused("client provision --id p --user u --p12 c.p12 --password-file pw --key-out k");
}

#[test]
fn a_server_key_needs_a_file_to_go_to() {
    let err = check_key_delivery(false, false, false, false).unwrap_err();
    assert!(err.to_string().contains("--key-out FILE"), "{err}");
    check_key_delivery(true, false, false, false).unwrap();
    check_key_delivery(false, true, false, false).unwrap();
    check_key_delivery(false, false, true, false).unwrap();
    check_key_delivery(false, false, false, true).unwrap();
}

#[test]
fn reprovision_takes_an_id_or_all_invalidated() {
    refused("client reprovision");
    refused("client reprovision phone-1 --all-invalidated");
    refused("client reprovision --all-invalidated --out cert.pem");
    refused("client reprovision --all-invalidated --concurrency 0");
    let Ok(ClientCmd::Reprovision {
        all_invalidated,
        concurrency,
        id,
        ..
    }) = parse("client reprovision --all-invalidated --concurrency 4 --days 90")
    else {
        panic!()
    };
    assert!(all_invalidated && id.is_none());
    assert_eq!(concurrency, Some(4));
    let Ok(ClientCmd::Reprovision { id, out, .. }) =
        parse("client reprovision phone-1 --out c.pem --force")
    else {
        panic!()
    };
    assert_eq!(id.as_deref(), Some("phone-1"));
    assert!(out.force);
}

#[test]
fn list_takes_an_opaque_page_token_and_a_bounded_limit() {
    let Ok(ClientCmd::List {
        page_token, limit, ..
    }) = parse("client list --page-token Yy9hbGljZQ --limit 10")
    else {
        panic!()
    };
    assert_eq!(page_token.as_deref(), Some("Yy9hbGljZQ"));
    assert_eq!(limit, Some(10));
    refused("client list --limit 0");
    refused("client list --limit 1001");
    // States are an API enum: an unknown name is refused here, naming them.
    refused("client list --state bogus");
    assert!(parse("client list --state revoked").is_ok());
}

#[test]
fn crl_der_needs_a_file() {
    refused("client crl --der");
    parse("client crl --der --out crl.der").unwrap();
}

#[test]
fn bundle_directory_is_created_for_the_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let bundle = Bundle::prepare(&dir).unwrap();
    assert!(bundle.created);
    assert_eq!(mode(&dir), 0o700);
    bundle.abandon();
    assert!(
        !dir.exists(),
        "a failed request leaves no empty bundle behind"
    );
}

#[test]
fn bundle_may_fill_an_empty_directory_but_not_a_full_one() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = Bundle::prepare(tmp.path()).unwrap();
    bundle.abandon();
    assert!(tmp.path().exists(), "a directory made by the user stays");
    std::fs::write(tmp.path().join("old.pem"), "x").unwrap();
    let err = Bundle::prepare(tmp.path()).err().unwrap();
    assert!(err.to_string().contains("is not empty"), "{err}");
    let file = tmp.path().join("old.pem");
    assert!(Bundle::prepare(&file).is_err(), "a file is no bundle");
}

fn reply(key_pem: &str, p12: &[u8]) -> ProvisionReply {
    ProvisionReply {
        client: Some(info("phone-1")),
        cert_pem: "CERT\n".into(),
        ca_pem: "CA\n".into(),
        key_pem: key_pem.into(),
        p12: p12.to_vec(),
        endpoints: Some(RouterEndpoints {
            virtual_address: "10.0.0.1".into(),
            remote_access_fqdn: "mr.example.com".into(),
            cluster_domain: "example.com".into(),
            ..Default::default()
        }),
        log_index: 7,
        warnings: vec![],
    }
}

#[test]
fn a_bundle_holds_everything_the_client_needs_with_the_key_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let key_out = tmp.path().join("k.pem");
    let delivery = Delivery::prepare(None, None, Some(key_out.clone()), Some(&dir)).unwrap();
    let written = delivery.deliver(&reply("KEY\n", &[]), "phone-1").unwrap();
    assert_eq!(written.len(), 5, "{written:?}");
    assert_eq!(std::fs::read_to_string(&key_out).unwrap(), "KEY\n");
    assert_eq!(mode(&key_out), 0o600);
    assert_eq!(mode(&dir.join("client.key")), 0o600);
    assert_eq!(
        std::fs::read_to_string(dir.join("client.pem")).unwrap(),
        "CERT\n"
    );
    assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), "CA\n");
    let endpoints: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("endpoints.json")).unwrap()).unwrap();
    assert_eq!(endpoints["client_id"], "phone-1");
    assert_eq!(endpoints["virtual_address"], "10.0.0.1");
    assert_eq!(endpoints["remote_access_fqdn"], "mr.example.com");
    assert_eq!(endpoints["cluster_domain"], "example.com");
    assert!(!dir.join("client.p12").exists());
}

#[test]
fn a_p12_goes_to_its_file_and_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let p12 = tmp.path().join("c.p12");
    let dir = tmp.path().join("b");
    let delivery = Delivery::prepare(Some(p12.clone()), Some(pw), None, Some(&dir)).unwrap();
    assert_eq!(delivery.p12_password(), "s3cret");
    delivery.deliver(&reply("", &[1, 2, 3]), "phone-1").unwrap();
    assert_eq!(std::fs::read(&p12).unwrap(), [1, 2, 3]);
    assert_eq!(mode(&p12), 0o600);
    assert_eq!(mode(&dir.join("client.p12")), 0o600);
    assert!(!dir.join("client.key").exists());
}

#[test]
fn an_empty_p12_password_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "\n").unwrap();
    let err = Delivery::prepare(Some(tmp.path().join("c.p12")), Some(pw), None, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn existing_key_files_are_refused_before_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let key_out = tmp.path().join("k.pem");
    std::fs::write(&key_out, "old").unwrap();
    let dir = tmp.path().join("b");
    let err = Delivery::prepare(None, None, Some(key_out), Some(&dir))
        .err()
        .unwrap();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!dir.exists(), "nothing is created once a check failed");
}

#[test]
fn a_missing_key_in_the_reply_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let key_out = tmp.path().join("k.pem");
    let delivery = Delivery::prepare(None, None, Some(key_out), None).unwrap();
    let err = delivery.deliver(&reply("", &[]), "phone-1").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("sent no private key") && text.contains("--replace"),
        "{text}"
    );
}

#[test]
fn provision_output_never_holds_the_key() {
    let r = reply("-----BEGIN PRIVATE KEY-----\n", b"p12-bytes");
    let json = serde_json::to_string(&ProvisionOutput::new(&r, vec![])).unwrap();
    assert!(
        !json.contains("PRIVATE KEY") && !json.contains("p12"),
        "{json}"
    );
    assert!(json.contains("CERT"));
}

#[test]
fn client_rows_show_revocation_only_when_revoked() {
    let mut c = ClientInfo {
        id: "phone-1".into(),
        key_origin: mrouter_proto::v1::KeyOrigin::Csr.into(),
        days_left: 1,
        ..Default::default()
    };
    let text = format!("{:?}", client_rows(&c));
    assert!(text.contains("1 day left") && text.contains("stays on the device"));
    assert!(!text.contains("revoked"));
    c.revoked_at_ms = 1_748_779_200_000;
    c.revoked_reason = "lost".into();
    let text = format!("{:?}", client_rows(&c));
    assert!(text.contains("2025-06-01T12:00:00Z (lost)"), "{text}");
}

#[test]
fn sweep_reprovisions_a_page_then_finishes_on_an_empty_one() {
    let mut sweep = Sweep::default();
    let next = sweep.next(&page(&["a", "b"], "")).unwrap();
    assert_eq!(next, Next::Reprovision(vec!["a".into(), "b".into()]));
    sweep.record("a".into(), Ok(()));
    sweep.record("b".into(), Ok(()));
    assert_eq!(sweep.next(&page(&[], "")).unwrap(), Next::Finished);
    let s = sweep.summary(None);
    assert_eq!((s.reprovisioned, s.failed), (2, 0));
}

#[test]
fn sweep_does_not_retry_a_failure_and_looks_past_pages_of_them() {
    let mut sweep = Sweep::default();
    sweep.record("a".into(), Err(anyhow!("FAILED_PRECONDITION: revoked")));
    sweep.record("b".into(), Ok(()));
    assert_eq!(
        sweep.next(&page(&["a", "c"], "")).unwrap(),
        Next::Reprovision(vec!["c".into()])
    );
    // Only failed clients on the page, with more after it: continue there.
    assert_eq!(
        sweep.next(&page(&["a"], "tok")).unwrap(),
        Next::Continue("tok".into())
    );
    assert_eq!(sweep.next(&page(&["a"], "")).unwrap(), Next::Finished);
    let s = sweep.summary(None);
    assert_eq!((s.reprovisioned, s.failed), (1, 1));
    assert_eq!(s.errors[0].id, "a");
    assert!(s.errors[0].error.contains("revoked"));
}

#[test]
fn sweep_follows_a_token_past_an_empty_page() {
    // The node bounds the keys a page examines, so a page can be empty and
    // still have a next token; that is not the end.
    let sweep = Sweep::default();
    assert_eq!(
        sweep.next(&page(&[], "more")).unwrap(),
        Next::Continue("more".into())
    );
}

#[test]
fn sweep_stops_when_a_done_client_is_invalidated_again() {
    let mut sweep = Sweep::default();
    sweep.record("a".into(), Ok(()));
    let err = sweep.next(&page(&["a"], "")).unwrap_err();
    assert!(err.to_string().contains("was replaced"), "{err}");
}

#[test]
fn a_batch_that_failed_entirely_stops_the_run() {
    check_batch(1, 500, Some("x: boom")).unwrap();
    check_batch(0, 0, None).unwrap();
    let err = check_batch(
        0,
        3,
        Some("x: FAILED_PRECONDITION: no certificate authority"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("all 3") && err.to_string().contains("no certificate authority"),
        "{err}"
    );
}

#[test]
fn summary_quotes_the_first_failures_and_counts_the_rest() {
    let mut sweep = Sweep::default();
    for i in 0..(QUOTED_ERRORS + 3) {
        sweep.record(format!("c{i}"), Err(anyhow!("boom {i}")));
    }
    let s = sweep.summary(Some(&anyhow!("stopped early")));
    assert_eq!(s.failed as usize, QUOTED_ERRORS + 3);
    assert_eq!(s.errors.len(), QUOTED_ERRORS);
    assert_eq!(s.errors[0].error, "boom 0");
    assert_eq!(s.stopped.as_deref(), Some("stopped early"));
}
