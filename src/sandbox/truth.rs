//! What the simulated API answers for a value: a fixed list for the values the samples and
//! docs use, and otherwise a stable state derived from a hash, so every run agrees.

use sha2::{Digest, Sha256};

/// The simulated registration state of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Free,
    Taken,
    /// Mobile numbers that reached their registration limit.
    Uplimit,
}

const FIXED: [(&str, &str, Truth); 8] = [
    ("email", "taken@example.com", Truth::Taken),
    ("email", "free@example.com", Truth::Free),
    ("email", "alice@example.com", Truth::Free),
    ("name", "huaweicloud", Truth::Taken),
    ("name", "acme-retail-01", Truth::Free),
    ("mobile", "0086-13800138000", Truth::Taken),
    ("mobile", "0086-13900139000", Truth::Free),
    ("mobile", "0086-13700137000", Truth::Uplimit),
];

/// The answer for (type, key). About 30% of values are taken, 5% of mobiles at their limit.
pub fn truth(kind: &str, key: &str) -> Truth {
    if let Some((_, _, t)) = FIXED.iter().find(|(k, v, _)| *k == kind && *v == key) {
        return *t;
    }
    let digest = Sha256::digest(format!("{kind}:{key}").as_bytes());
    match (kind, digest[0]) {
        ("mobile", 0..=12) => Truth::Uplimit,
        (_, b) if b < 77 => Truth::Taken,
        _ => Truth::Free,
    }
}

impl Truth {
    /// (status, uplimit) as the v1 API returns them.
    pub fn v1(self) -> (&'static str, &'static str) {
        match self {
            Truth::Free => ("0", "0"),
            Truth::Taken => ("1", "0"),
            Truth::Uplimit => ("1", "1"),
        }
    }

    /// The `result` column this state must produce.
    pub fn result(self) -> crate::model::ResultKind {
        match self {
            Truth::Free => crate::model::ResultKind::Free,
            Truth::Taken => crate::model::ResultKind::Taken,
            Truth::Uplimit => crate::model::ResultKind::Uplimit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_is_stable_and_mixed() {
        assert_eq!(truth("email", "taken@example.com"), Truth::Taken);
        // Pinned against SHA-256 computed outside this code (Python's hashlib): the first
        // byte of sha256("email:x@y.zz") is 61 (< 77: taken), of "email:u1@example.com" 165
        // (free), of "email:lead00001@example.com" 74 (taken).
        assert_eq!(truth("email", "x@y.zz"), Truth::Taken);
        assert_eq!(truth("email", "u1@example.com"), Truth::Free);
        assert_eq!(truth("email", "lead00001@example.com"), Truth::Taken);
        assert_eq!(truth("mobile", "0086-13800000001"), Truth::Free);
        let taken = (0..1000)
            .filter(|i| truth("email", &format!("u{i}@example.com")) == Truth::Taken)
            .count();
        assert!((200..400).contains(&taken), "{taken}");
        let up = (0..1000)
            .filter(|i| truth("mobile", &format!("0086-138{i:08}")) == Truth::Uplimit)
            .count();
        assert!((20..90).contains(&up), "{up}");
    }
}
