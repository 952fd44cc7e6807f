use std::os::unix::fs::PermissionsExt;

use super::*;

fn out(dir: &tempfile::TempDir, name: &str, force: bool, secret: bool) -> OutFile {
    OutFile {
        path: dir.path().join(name),
        force,
        secret,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn missing_input_names_the_file() {
    let err = read(Path::new("/nonexistent/ca.pem")).unwrap_err();
    assert!(
        format!("{err:#}").starts_with("cannot read /nonexistent/ca.pem: "),
        "{err:#}"
    );
}

#[test]
fn empty_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pem");
    std::fs::write(&path, b"").unwrap();
    assert!(read(&path).unwrap_err().to_string().contains("is empty"));
}

#[test]
fn password_loses_one_line_ending_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    for (content, want) in [
        ("secret\n", "secret"),
        ("secret\r\n", "secret"),
        ("secret", "secret"),
        ("secret \n\n", "secret \n"),
    ] {
        std::fs::write(&path, content).unwrap();
        assert_eq!(read_password(&path).unwrap(), want, "{content:?}");
    }
}

#[test]
fn password_error_does_not_quote_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, b"hunter2\xff").unwrap();
    let err = read_password(&path).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn existing_file_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = out(&dir, "ca.pem", false, false);
    std::fs::write(&file.path, "keep").unwrap();
    assert!(file.check().unwrap_err().to_string().contains("--force"));
    assert!(file
        .write(b"new")
        .unwrap_err()
        .to_string()
        .contains("--force"));
    assert_eq!(std::fs::read_to_string(&file.path).unwrap(), "keep");
}

#[test]
fn force_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = out(&dir, "ca.pem", true, false);
    std::fs::write(&file.path, "old content").unwrap();
    file.check().unwrap();
    file.write(b"new").unwrap();
    assert_eq!(std::fs::read_to_string(&file.path).unwrap(), "new");
}

#[test]
fn secret_file_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = out(&dir, "ca-key.pem", false, true);
    file.write(b"key").unwrap();
    assert_eq!(mode(&file.path), 0o600);
}

#[test]
fn secret_overwrite_narrows_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = out(&dir, "ca-key.pem", true, true);
    std::fs::write(&file.path, "old").unwrap();
    std::fs::set_permissions(&file.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    file.write(b"key").unwrap();
    assert_eq!(mode(&file.path), 0o600);
    assert_eq!(std::fs::read_to_string(&file.path).unwrap(), "key");
}
