//! An answer as a version reads it from a body: the fields either version's body may hold
//! ([`Fields`]), a flag that is `0` or `1` and nothing else ([`flag`]), the typed [`Answer`]
//! they become, and why a body is no answer ([`Unreadable`]). A leaf: [`super::v1`] and
//! [`super::v2`] read bodies with it and import nothing from their dispatcher
//! ([`super::ApiVersion`]) or from [`super::wire`].

use serde::Deserialize;
use serde_json::Value;

pub use crate::model::Answer;

/// Answer fields of both versions (all optional: error bodies share the shape). They stay raw
/// JSON so that a value outside the documented ones can be refused.
#[derive(Debug, Default, Deserialize)]
pub struct Fields {
    /// v1: `"0"` free, `"1"` exists (the docs say strings; numbers are taken too).
    #[serde(default)]
    pub status: Option<Value>,
    /// v1: `"1"` when the registration limit is reached.
    #[serde(default)]
    pub uplimit: Option<Value>,
    /// v2: `available` or `used_by_user`.
    #[serde(default)]
    pub check_result: Option<Value>,
    /// v2, mobiles: how many more customers may register with the number.
    #[serde(default)]
    pub mobile_remain_available_num: Option<Value>,
}

/// Why a body that claims success is not an answer. The value is kept as sent: the
/// dispatcher words it for people (shortened, secrets and control characters taken out).
#[derive(Debug, Clone, PartialEq)]
pub enum Unreadable {
    /// The body lacks a field the version answers with.
    Missing(&'static str),
    /// A field holds something else than `expected` ("a documented value", "a count").
    Bad {
        field: &'static str,
        value: Value,
        expected: &'static str,
    },
    /// The body carries both versions' answers, and they disagree.
    Ambiguous,
}

/// A flag: `0` or `1`, as a string or a number; anything else is not an answer.
pub fn flag(field: &'static str, v: Option<&Value>) -> Result<bool, Unreadable> {
    match v {
        Some(Value::String(s)) if s == "0" => Ok(false),
        Some(Value::String(s)) if s == "1" => Ok(true),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(false),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(true),
        None => Err(Unreadable::Missing(field)),
        Some(other) => Err(Unreadable::Bad {
            field,
            value: other.clone(),
            expected: "a documented value",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_zero_or_one_and_nothing_else() {
        let read = |s: &str| flag("status", Some(&serde_json::from_str(s).unwrap()));
        assert_eq!(read(r#""1""#), Ok(true));
        assert_eq!(read("0"), Ok(false));
        for bad in [r#"" 1""#, "2", "1.0", "true", r#""yes""#, "null"] {
            assert!(
                matches!(
                    read(bad),
                    Err(Unreadable::Bad {
                        field: "status",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(flag("uplimit", None), Err(Unreadable::Missing("uplimit")));
    }
}
