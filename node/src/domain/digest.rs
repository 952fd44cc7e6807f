//! An order-independent digest of the domain records: the sum, modulo 2^256, of
//! SHA-256(key ‖ 0 ‖ value) over every record. Updating it costs one hash per
//! changed record, so every node keeps it current and two nodes with the same
//! records always show the same digest, whatever order they wrote them in.

use std::fmt;

use aws_lc_rs::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateDigest(pub [u8; 32]);

impl StateDigest {
    /// Folds one record change into the digest.
    pub fn update(&mut self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) {
        if let Some(old) = old {
            self.sub(&record_hash(key, old));
        }
        if let Some(new) = new {
            self.add(&record_hash(key, new));
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Self)
    }

    fn add(&mut self, h: &[u8; 32]) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let sum = u16::from(self.0[i]) + u16::from(h[i]) + carry;
            self.0[i] = sum as u8;
            carry = sum >> 8;
        }
    }

    fn sub(&mut self, h: &[u8; 32]) {
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut diff = i16::from(self.0[i]) - i16::from(h[i]) - borrow;
            borrow = 0;
            if diff < 0 {
                diff += 256;
                borrow = 1;
            }
            self.0[i] = diff as u8;
        }
    }
}

fn record_hash(key: &[u8], value: &[u8]) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(key);
    ctx.update(&[0]);
    ctx.update(value);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl fmt::Display for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for StateDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateDigest({})", &self.to_hex()[..16])
    }
}
