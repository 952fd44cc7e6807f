use clap::error::ErrorKind;

use super::*;

fn parse(args: &str) -> Result<Command, clap::Error> {
    Cli::try_parse_from(std::iter::once("mrctl").chain(args.split_whitespace()))
        .map(|cli| cli.command)
}

fn refused(args: &str) -> clap::Error {
    match parse(args) {
        Ok(cmd) => panic!("{args:?} was accepted: {cmd:?}"),
        Err(e) => e,
    }
}

#[test]
fn ca_generate_takes_subject_key_and_days() {
    let cmd = parse("ca generate --org Acme --ou Ops --cn ca.corp --state CA --locality SF --key ecdsa-p256 --days 365 --yes").unwrap();
    let Command::Ca(CaCmd::Generate {
        subject,
        key,
        days,
        dry_run,
        yes,
    }) = cmd
    else {
        panic!("{cmd:?}");
    };
    assert_eq!(subject.country, "US");
    assert_eq!(subject.organization.as_deref(), Some("Acme"));
    assert_eq!(subject.organizational_unit.as_deref(), Some("Ops"));
    assert_eq!(subject.common_name.as_deref(), Some("ca.corp"));
    assert_eq!(subject.state.as_deref(), Some("CA"));
    assert_eq!(subject.locality.as_deref(), Some("SF"));
    assert_eq!(
        key.key_type,
        Some(mrouter_proto::v1::KeyType::EcdsaP256 as i32)
    );
    assert_eq!(days, Some(365));
    assert!(yes && !dry_run);
}

#[test]
fn key_types_are_the_apis_and_named_when_refused() {
    // rsa1024 has no value in the API's KeyType: refused here, naming the valid ones.
    let err = refused("ca generate --key rsa1024");
    assert!(err.to_string().contains("use rsa2048, rsa3072"), "{err}");
    assert!(parse("ca generate --key ecdsa-p384").is_ok());
}

#[test]
fn zero_days_is_refused() {
    refused("ca generate --days 0");
    refused("cert generate --slot local --days 0");
}

#[test]
fn ca_import_takes_one_file_or_cert_and_key() {
    let Command::Ca(CaCmd::Import {
        file, cert, key, ..
    }) = parse("ca import bundle.p12 --password-file pw").unwrap()
    else {
        panic!()
    };
    assert_eq!(file, Some(PathBuf::from("bundle.p12")));
    assert!(cert.is_none() && key.is_none());

    let Command::Ca(CaCmd::Import {
        file, cert, key, ..
    }) = parse("ca import --cert ca.crt --key ca.key").unwrap()
    else {
        panic!()
    };
    assert!(file.is_none());
    assert_eq!(cert, Some(PathBuf::from("ca.crt")));
    assert_eq!(key, Some(PathBuf::from("ca.key")));
}

#[test]
fn ca_import_refuses_half_or_mixed_sources() {
    assert_eq!(
        refused("ca import --cert ca.crt").kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        refused("ca import --key ca.key").kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        refused("ca import").kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        refused("ca import bundle.pem --cert ca.crt --key ca.key").kind(),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn cert_commands_need_a_known_slot() {
    assert_eq!(
        refused("cert show").kind(),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        refused("cert show --slot public").kind(),
        ErrorKind::InvalidValue
    );
    let Command::Cert(CertCmd::Show { slot, stale }) =
        parse("cert show --slot remote-virtual --stale").unwrap()
    else {
        panic!()
    };
    assert_eq!(slot.slot, Slot::RemoteVirtual);
    assert_eq!(slot.slot.as_str(), "remote-virtual");
    assert!(slot.node.is_none() && stale);
}

#[test]
fn cert_generate_takes_sans() {
    let cmd = parse(
        "cert generate --slot local --node 2 --san dns:r1.corp --san ip:10.0.0.1 --san ip:fe80::1 \
         --san router --drop-san r1 --activate",
    )
    .unwrap();
    let Command::Cert(CertCmd::Generate {
        slot,
        sans,
        activate,
        ..
    }) = cmd
    else {
        panic!("{cmd:?}");
    };
    assert_eq!((slot.slot, slot.node), (Slot::Local, Some(2)));
    assert_eq!(
        sans.add,
        ["dns:r1.corp", "ip:10.0.0.1", "ip:fe80::1", "router"]
    );
    assert_eq!(sans.drop, ["r1"]);
    assert!(!sans.no_default_sans && activate);
}

#[test]
fn bad_sans_are_refused_before_any_rpc() {
    for bad in ["ip:10.0.0.300", "dns:", "uri:https://x", "email:a@b"] {
        let e = refused(&format!("cert csr --slot local --san {bad}"));
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{bad}");
    }
    // A bare IPv6 address has colons but is a valid name.
    parse("cert csr --slot local --san ::1").unwrap();
}

#[test]
fn drop_san_and_no_default_sans_conflict() {
    assert_eq!(
        refused("cert generate --slot local --drop-san a --no-default-sans").kind(),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn cert_import_needs_files() {
    assert_eq!(
        refused("cert import --slot local").kind(),
        ErrorKind::MissingRequiredArgument
    );
    let Command::Cert(CertCmd::Import { files, .. }) =
        parse("cert import --slot local a.pem b.key").unwrap()
    else {
        panic!()
    };
    assert_eq!(files, [PathBuf::from("a.pem"), PathBuf::from("b.key")]);
}

#[test]
fn force_also_lets_a_key_go_to_standard_output() {
    let Command::Ca(CaCmd::Export { out, .. }) = parse("ca export --include-key --force").unwrap()
    else {
        panic!()
    };
    assert!(out.force && out.out.is_none());
    let Command::Ca(CaCmd::Export { include_key, out }) =
        parse("ca export --include-key --out ca.pem --force").unwrap()
    else {
        panic!()
    };
    assert!(include_key && out.force);
    assert_eq!(out.out, Some(PathBuf::from("ca.pem")));
}

#[test]
fn cert_export_and_list_parse() {
    let Command::Cert(CertCmd::Export {
        slot,
        pending,
        include_key,
        out,
    }) = parse("cert export --slot remote --node 3 --pending --include-key").unwrap()
    else {
        panic!()
    };
    assert_eq!((slot.slot, slot.node), (Slot::Remote, Some(3)));
    assert!(pending && include_key && out.out.is_none());
    assert!(matches!(
        parse("cert list --stale").unwrap(),
        Command::Cert(CertCmd::List { stale: true })
    ));
}
