//! Who signed whom: [`verify_signed_by`] for one link, and the chain
//! builder the import checks use to order a bundle from leaf to root.

use super::cert_facts::{parse_certificate, CertFacts};
use super::error::PkiError;
use super::signature::{verify, SignatureFailure};
use super::validity::rfc3339;

/// Checks that `issuer_der`'s key made the signature on `child_der`.
/// A mismatch is [`PkiError::ChainSignature`].
pub fn verify_signed_by(child_der: &[u8], issuer_der: &[u8]) -> Result<(), PkiError> {
    if signed_by(child_der, issuer_der)? {
        return Ok(());
    }
    let child = parse_certificate(child_der, "the child certificate")?;
    let issuer = parse_certificate(issuer_der, "the issuer certificate")?;
    Err(PkiError::ChainSignature {
        child: super::name::one_line(child.subject()),
        issuer: super::name::one_line(issuer.subject()),
    })
}

/// `Ok(false)` when the signature does not verify; errors for unparsable
/// certificates and unsupported algorithms.
fn signed_by(child_der: &[u8], issuer_der: &[u8]) -> Result<bool, PkiError> {
    let child = parse_certificate(child_der, "the child certificate")?;
    let issuer = parse_certificate(issuer_der, "the issuer certificate")?;
    match verify(
        issuer.public_key(),
        &child.signature_algorithm,
        &child.signature_value.data,
        child.tbs_certificate.as_ref(),
    ) {
        Ok(()) => Ok(true),
        Err(SignatureFailure::Invalid) => Ok(false),
        Err(SignatureFailure::Unsupported(algorithm)) => {
            Err(PkiError::UnsupportedSignatureAlgorithm {
                what: format!("certificate {}", super::name::one_line(child.subject())),
                algorithm,
            })
        }
    }
}

/// A leaf's chain within a bundle.
pub(crate) struct Chain {
    /// Indices into the pool, the leaf's issuer first, upward.
    pub links: Vec<usize>,
    pub warnings: Vec<String>,
    /// Information that asks nothing of the operator, e.g. the root that
    /// clients must trust.
    pub notes: Vec<String>,
    /// The leaf or a link was signed by the cluster CA.
    pub reaches_cluster_ca: bool,
}

/// Walks from `leaf` up through `pool` (the bundle's other certificates,
/// without duplicates) and then `anchor` (the cluster CA), verifying each
/// signature, until a self-issued certificate or a missing issuer. Every
/// certificate of `pool` must be on the chain: a stray one (usually the
/// wrong intermediate) is refused rather than silently left out.
pub(crate) fn build(
    leaf: &CertFacts,
    pool: &[CertFacts],
    anchor: Option<&CertFacts>,
    now: i64,
) -> Result<Chain, PkiError> {
    let mut used = vec![false; pool.len()];
    let mut chain = Chain {
        links: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        reaches_cluster_ca: false,
    };
    let is_anchor = |c: &CertFacts| {
        anchor
            .is_some_and(|a| a.der == c.der || (a.subject_raw == c.subject_raw && a.spki == c.spki))
    };
    let mut current = leaf;
    while !current.is_self_issued() {
        let mut impostor: Option<&CertFacts> = None;
        let mut next = None;
        for (i, candidate) in pool.iter().enumerate() {
            if used[i] || !candidate.named_issuer_of(current) {
                continue;
            }
            if signed_by(&current.der, &candidate.der)? {
                next = Some(i);
                break;
            }
            impostor.get_or_insert(candidate);
        }
        if let Some(i) = next {
            used[i] = true;
            chain.reaches_cluster_ca |= is_anchor(&pool[i]);
            chain.links.push(i);
            current = &pool[i];
            continue;
        }
        if let Some(ca) = anchor.filter(|a| a.named_issuer_of(current)) {
            if signed_by(&current.der, &ca.der)? {
                chain.reaches_cluster_ca = true;
                break;
            }
            impostor.get_or_insert(ca);
        }
        if let Some(bad) = impostor {
            return Err(PkiError::ChainSignature {
                child: current.subject.clone(),
                issuer: bad.subject.clone(),
            });
        }
        match chain.links.last().map(|&i| &pool[i]) {
            // A chain up to an intermediate CA is what vendors send: the
            // root it needs is in the clients' trust store, not the bundle.
            Some(last) if last.is_ca => chain.notes.push(format!(
                "clients must trust {}: it issued {}, the last certificate of the chain (roots are not sent to clients)",
                last.issuer, last.subject
            )),
            _ => chain.warnings.push(format!(
                "incomplete chain: the issuer {} of {} is not in the bundle; add the intermediate certificate(s) your CA sent, unless clients trust {} itself",
                current.issuer, current.subject, current.issuer
            )),
        }
        break;
    }
    for &i in &chain.links {
        let link = &pool[i];
        if now > link.not_after {
            chain.warnings.push(format!(
                "chain certificate {} expired at {}: clients that need it will reject the chain",
                link.subject,
                rfc3339(link.not_after)
            ));
        } else if now < link.not_before {
            chain.warnings.push(format!(
                "chain certificate {} is not valid until {}",
                link.subject,
                rfc3339(link.not_before)
            ));
        }
        if !link.is_ca {
            chain.warnings.push(format!(
                "chain certificate {} is not a CA (basicConstraints CA:TRUE missing): clients will reject the chain",
                link.subject
            ));
        }
    }
    if let Some(stray) = pool.iter().zip(&used).find(|(_, used)| !**used) {
        return Err(PkiError::StrayCertificate {
            subject: stray.0.subject.clone(),
            leaf: leaf.subject.clone(),
        });
    }
    Ok(chain)
}

#[cfg(test)]
mod tests;
