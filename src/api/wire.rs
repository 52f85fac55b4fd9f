//! The two API versions on the wire: paths, request bodies and the answer fields.

use serde::{Deserialize, Serialize};

use crate::check::CheckType;
use crate::cli::ApiVersion;

/// Path of the check call for a version (`partner_id` is needed by v1 only).
pub fn path(api: ApiVersion, partner_id: &str) -> String {
    match api {
        ApiVersion::V1 => format!("/v1.0/{partner_id}/partner/customer-mgr/check-user"),
        ApiVersion::V2 => "/v2/partners/sub-customers/users/check-identity".to_string(),
    }
}

#[derive(Serialize, Deserialize)]
pub struct V1Request<'a> {
    #[serde(rename = "searchType")]
    pub search_type: &'a str,
    #[serde(rename = "searchKey")]
    pub search_key: &'a str,
}

#[derive(Serialize, Deserialize)]
pub struct V2Request<'a> {
    pub search_type: &'a str,
    pub search_value: &'a str,
}

/// The exact bytes sent (and signed) for one check.
pub fn body(api: ApiVersion, kind: CheckType, key: &str) -> Vec<u8> {
    let t = kind.as_str();
    let res = match api {
        ApiVersion::V1 => serde_json::to_vec(&V1Request {
            search_type: t,
            search_key: key,
        }),
        ApiVersion::V2 => serde_json::to_vec(&V2Request {
            search_type: t,
            search_value: key,
        }),
    };
    res.expect("serializing two strings cannot fail")
}

/// Answer fields of both versions (all optional: error bodies share the shape).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AnswerBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
    /// v1: "0" free, "1" exists.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub status: Option<String>,
    /// v1: "1" when the registration limit is reached.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub uplimit: Option<String>,
    /// v2: `available` or `used_by_user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_result: Option<String>,
    /// v2, mobiles: how many more customers may register with the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_remain_available_num: Option<i64>,
}

/// Accepts `"1"` or `1` (the docs say strings; be tolerant of numbers).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

impl AnswerBody {
    /// (status, uplimit) as the v1 API states them; v2 answers are mapped by the contract's rule.
    pub fn status_uplimit(&self, api: ApiVersion) -> Option<(String, String)> {
        match api {
            ApiVersion::V1 => Some((
                self.status.clone()?,
                self.uplimit.clone().unwrap_or_else(|| "0".into()),
            )),
            ApiVersion::V2 => {
                let status = match self.check_result.as_deref()? {
                    "used_by_user" => "1",
                    "available" => "0",
                    _ => return None,
                };
                let uplimit = if self.mobile_remain_available_num == Some(0) {
                    "1"
                } else {
                    "0"
                };
                Some((status.into(), uplimit.into()))
            }
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
            Some(("1".into(), "0".into()))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":0}"#),
            Some(("0".into(), "1".into()))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":3}"#),
            Some(("0".into(), "0".into()))
        );
        assert_eq!(parse(r#"{"check_result":"weird"}"#), None);
        let v1 = serde_json::from_str::<AnswerBody>(
            r#"{"error_code":"CBC.0000","status":1,"uplimit":"0"}"#,
        )
        .unwrap();
        assert_eq!(
            v1.status_uplimit(ApiVersion::V1),
            Some(("1".into(), "0".into()))
        );
    }
}
