//! The two API versions on the wire: paths, request bodies and the answer fields.

use serde::Deserialize;

use crate::api::ApiVersion;
use crate::model::CheckType;

/// Path of the check call for a version (`partner_id` is needed by v1 only).
pub fn path(api: ApiVersion, partner_id: &str) -> String {
    match api {
        ApiVersion::V1 => super::v1::path(partner_id),
        ApiVersion::V2 => super::v2::PATH.to_string(),
    }
}

/// The exact bytes sent (and signed) for one check.
pub fn body(api: ApiVersion, kind: CheckType, key: &str) -> Vec<u8> {
    match api {
        ApiVersion::V1 => super::v1::body(kind, key),
        ApiVersion::V2 => super::v2::body(kind, key),
    }
}

/// Answer fields of both versions (all optional: error bodies share the shape). `status` and
/// `uplimit` stay raw JSON so that a value outside the documented ones can be refused.
#[derive(Debug, Default, Deserialize)]
pub struct AnswerBody {
    /// v1: `"0"` free, `"1"` exists (the docs say strings; numbers are taken too).
    #[serde(default)]
    pub status: Option<serde_json::Value>,
    /// v1: `"1"` when the registration limit is reached.
    #[serde(default)]
    pub uplimit: Option<serde_json::Value>,
    /// v2: `available` or `used_by_user`.
    #[serde(default)]
    pub check_result: Option<serde_json::Value>,
    /// v2, mobiles: how many more customers may register with the number.
    #[serde(default)]
    pub mobile_remain_available_num: Option<serde_json::Value>,
}

/// The keys an answer is read from.
pub const ANSWER_KEYS: [&str; 5] = [
    "error_code",
    "status",
    "uplimit",
    "check_result",
    "mobile_remain_available_num",
];

/// The first of `keys` that a JSON object body holds twice, with two different values, at its
/// top level. A parser keeps only one of the two (serde_json the last, others the first), so
/// such an answer means different things to different readers.
pub fn conflicting_key(body: &[u8], keys: &[&str]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys<'k>(&'k [&'k str]);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Read to the end: serde_json refuses a map left half read.
            let (mut seen, mut conflict) = (Vec::<(String, serde_json::Value)>::new(), None);
            while let Some(key) = map.next_key::<String>()? {
                if !self.0.contains(&key.as_str()) {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let value = map.next_value::<serde_json::Value>()?;
                match seen.iter().find(|(k, _)| *k == key) {
                    Some((_, first)) if *first != value => {
                        conflict.get_or_insert(key);
                    }
                    Some(_) => {}
                    None => seen.push((key, value)),
                }
            }
            Ok(conflict)
        }
    }
    serde_json::Deserializer::from_slice(body)
        .deserialize_map(Keys(keys))
        .ok()
        .flatten()
}

/// `0` or `1`, as a string or a number; anything else is not an answer.
pub fn flag(name: &str, v: Option<&serde_json::Value>) -> Result<&'static str, String> {
    use serde_json::Value;
    match v {
        Some(Value::String(s)) if s == "0" => Ok("0"),
        Some(Value::String(s)) if s == "1" => Ok("1"),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok("0"),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok("1"),
        None => Err(format!("the answer has no {name}")),
        Some(other) => Err(format!("{name} {} is not a documented value", shown(other))),
    }
}

/// A JSON value for an error message, short and free of control characters.
pub fn shown(v: &serde_json::Value) -> String {
    // Secrets are taken out of the whole value before it is cut.
    let clean = super::sanitize(&v.to_string());
    match clean.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

impl AnswerBody {
    /// (status, uplimit) as the v1 API states them; v2 answers are mapped by the contract's
    /// rule. `Err` says which field is missing or holds an undocumented value.
    pub fn status_uplimit(&self, api: ApiVersion) -> Result<(String, String), String> {
        let (status, uplimit) = match api {
            ApiVersion::V1 => super::v1::answer(self)?,
            ApiVersion::V2 => super::v2::answer(self)?,
        };
        // A body that also carries the other version's answer must say the same thing.
        let other = match api {
            ApiVersion::V1 => self.check_result.is_some().then(|| super::v2::answer(self)),
            ApiVersion::V2 => self
                .status
                .is_some()
                .then(|| flag("status", self.status.as_ref()).map(|s| (s, uplimit))),
        };
        match other {
            Some(Ok((s, _))) if s != status => {
                Err("status and check_result disagree: the answer is ambiguous".into())
            }
            Some(Err(why)) => Err(why),
            _ => Ok((status.into(), uplimit.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_use_each_versions_key_names() {
        assert_eq!(
            body(ApiVersion::V1, CheckType::Email, "a@b.cd"),
            br#"{"searchType":"email","searchKey":"a@b.cd"}"#
        );
        assert_eq!(
            body(ApiVersion::V2, CheckType::Mobile, "0086-1"),
            br#"{"search_type":"mobile","search_value":"0086-1"}"#
        );
        assert_eq!(
            path(ApiVersion::V1, "p1"),
            "/v1.0/p1/partner/customer-mgr/check-user"
        );
    }

    #[test]
    fn v2_answers_map_to_status_and_uplimit() {
        let parse = |s: &str| {
            serde_json::from_str::<AnswerBody>(s)
                .unwrap()
                .status_uplimit(ApiVersion::V2)
        };
        assert_eq!(
            parse(r#"{"check_result":"used_by_user"}"#),
            Ok(("1".into(), "0".into()))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":0}"#),
            Ok(("0".into(), "1".into()))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":3}"#),
            Ok(("0".into(), "0".into()))
        );
        for bad in [
            r#"{"check_result":"weird"}"#,
            r#"{"check_result":null}"#,
            r#"{}"#,
            r#"{"check_result":"available","mobile_remain_available_num":"x"}"#,
            r#"{"check_result":"available","mobile_remain_available_num":-1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v1_answers_take_only_documented_values() {
        let parse = |s: &str| {
            serde_json::from_str::<AnswerBody>(s)
                .unwrap()
                .status_uplimit(ApiVersion::V1)
        };
        assert_eq!(
            parse(r#"{"status":1,"uplimit":"0"}"#),
            Ok(("1".into(), "0".into()))
        );
        assert_eq!(
            parse(r#"{"status":"0","uplimit":0}"#),
            Ok(("0".into(), "0".into()))
        );
        for bad in [
            r#"{"status":2,"uplimit":"0"}"#,
            r#"{"status":"exists","uplimit":"0"}"#,
            r#"{"status":null,"uplimit":"0"}"#,
            r#"{"uplimit":"0"}"#,
            r#"{"status":"1"}"#,
            r#"{"status":"1","uplimit":"yes"}"#,
            r#"{"status":true,"uplimit":"0"}"#,
            r#"{"status":1.0,"uplimit":"0"}"#,
            r#"{"status":" 1","uplimit":"0"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
