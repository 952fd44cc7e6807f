//! Splitting PEM text into numbered blocks, so that a truncated or damaged
//! block is reported by its position and label rather than as "bad PEM".
//! Text between blocks (comments, `Bag Attributes`) is ignored.

use zeroize::Zeroizing;

use super::error::PkiError;

/// One decoded PEM block.
pub(crate) struct PemBlock {
    /// 1-based position among the file's blocks.
    pub index: usize,
    pub label: String,
    /// `Proc-Type: 4,ENCRYPTED` (OpenSSL's legacy key encryption).
    pub legacy_encrypted: bool,
    pub contents: Zeroizing<Vec<u8>>,
}

/// Whether `bytes` look like PEM text rather than binary DER.
pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every block in `text`, in order.
pub(crate) fn split(text: &str) -> Result<Vec<PemBlock>, PkiError> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if let Some(label) = marker(trimmed, "-----BEGIN ") {
            if let Some((_, label)) = open {
                return Err(PkiError::PemTruncated {
                    block: blocks.len() + 1,
                    label,
                });
            }
            open = Some((start, label.to_string()));
        } else if let Some(end_label) = marker(trimmed, "-----END ") {
            let index = blocks.len() + 1;
            let Some((begin, label)) = open.take() else {
                return Err(PkiError::PemMalformed {
                    block: index,
                    label: end_label.to_string(),
                    reason: "an END line has no matching BEGIN line".into(),
                });
            };
            if label != end_label {
                return Err(PkiError::PemMalformed {
                    block: index,
                    label,
                    reason: format!("it ends with `-----END {end_label}-----`"),
                });
            }
            blocks.push(decode(index, label, &text[begin..offset])?);
        }
    }
    if let Some((_, label)) = open {
        return Err(PkiError::PemTruncated {
            block: blocks.len() + 1,
            label,
        });
    }
    Ok(blocks)
}

fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.strip_suffix("-----")
}

fn decode(index: usize, label: String, text: &str) -> Result<PemBlock, PkiError> {
    // The pem crate's errors may quote the offending line; keep only the kind.
    let parsed = pem::parse(text).map_err(|e| PkiError::PemMalformed {
        block: index,
        label: label.clone(),
        reason: match e {
            pem::PemError::InvalidData(_) => {
                "its base64 body is damaged (edited, cut short or mixed with other text)".into()
            }
            pem::PemError::InvalidHeader(_) => "a header line is malformed".into(),
            pem::PemError::MissingData => "it has no body".into(),
            _ => "its framing is broken".into(),
        },
    })?;
    let legacy_encrypted = parsed
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    Ok(PemBlock {
        index,
        label,
        legacy_encrypted,
        contents: Zeroizing::new(parsed.into_contents()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_BODY: &str = "MIIBszCCAVmgAwIBAgIUQ1dV\n";

    #[test]
    fn blocks_are_numbered_and_text_between_is_ignored() {
        let text = format!(
            "Bag Attributes\n-----BEGIN A-----\n{CERT_BODY}-----END A-----\nnoise\n-----BEGIN B-----\n{CERT_BODY}-----END B-----\n"
        );
        let blocks = split(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[1].index, blocks[1].label.as_str()), (2, "B"));
        assert!(!blocks[0].contents.is_empty());
    }

    #[test]
    fn a_missing_end_line_names_the_block() {
        let text = format!(
            "-----BEGIN A-----\n{CERT_BODY}-----END A-----\n-----BEGIN CERTIFICATE-----\n{CERT_BODY}"
        );
        let err = split(&text).err().unwrap();
        assert!(
            matches!(&err, PkiError::PemTruncated { block: 2, label } if label == "CERTIFICATE"),
            "{err}"
        );
        assert!(err.to_string().contains("#2"), "{err}");
    }

    #[test]
    fn damaged_base64_names_the_block_without_quoting_it() {
        let text = "-----BEGIN PRIVATE KEY-----\nMIIB!!secret!!\n-----END PRIVATE KEY-----\n";
        let err = split(text).err().unwrap();
        assert!(
            matches!(err, PkiError::PemMalformed { block: 1, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn legacy_encryption_headers_are_detected() {
        let text = format!(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n{CERT_BODY}-----END RSA PRIVATE KEY-----\n"
        );
        let blocks = split(&text).unwrap();
        assert!(blocks[0].legacy_encrypted);
    }
}
