//! Every answer falls in one of the contract's classes; the run's behaviour depends only on
//! the class. The body's `error_code` is read first, the HTTP status second.

use std::time::{Duration, SystemTime};

use crate::api::wire::AnswerBody;
use crate::cli::ApiVersion;

/// What came back from one HTTP exchange.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub http_status: u16,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// The server's `Date` header, to detect clock skew.
    pub date: Option<SystemTime>,
}

/// An error code and message, as the API gave them or as we name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: String,
    pub msg: String,
}

/// The contract's answer classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// `CBC.0000`: record it. `code` is the success code as given (`CBC.0000` when omitted).
    Answer {
        status: String,
        uplimit: String,
        code: String,
    },
    /// `CBC.0100`/`CBC.0101`: the API says the value is invalid; not retried.
    Invalid(Problem),
    /// HTTP 429 or a throttling code: retried without using up attempts.
    Throttled(Problem),
    /// `CBC.0999`, 5xx, timeouts, connection errors: retried with backoff.
    Transient(Problem),
    /// Bad credentials, no permission, wrong endpoint: stop the run.
    Fatal(Problem),
    /// Anything else: this check ends in `error`.
    RowError(Problem),
}

const FATAL: [&str; 7] = [
    "APIG.0301",
    "APIG.0307",
    "CBC.0154",
    "CBC.0151",
    "CBC.0155",
    "CBC.5001",
    "APIG.0101",
];

/// Classifies a reply.
pub fn classify(api: ApiVersion, reply: &Reply) -> Class {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    let found = parsed.as_ref().and_then(find_error);
    let status = reply.http_status;
    let problem = || match &found {
        Some(p) => p.clone(),
        None => Problem {
            code: "HTTP".into(),
            msg: describe_body(status, &reply.body),
        },
    };
    let code = found.as_ref().map(|p| p.code.as_str()).unwrap_or("");
    if status == 429 || code == "APIG.0308" || code == "CBC.0250" {
        return Class::Throttled(problem());
    }
    if (code == "CBC.0000" || (code.is_empty() && (200..300).contains(&status))) && parsed.is_some()
    {
        let answer = parsed
            .and_then(|v| serde_json::from_value::<AnswerBody>(v).ok())
            .and_then(|b| b.status_uplimit(api));
        return match answer {
            Some((status, uplimit)) => Class::Answer {
                status,
                uplimit,
                code: if code.is_empty() { "CBC.0000" } else { code }.into(),
            },
            None => Class::RowError(Problem {
                code: if code.is_empty() {
                    "HTTP".into()
                } else {
                    code.into()
                },
                msg: "the answer has no status field this version of the API should have".into(),
            }),
        };
    }
    if code == "CBC.0100" || code == "CBC.0101" {
        return Class::Invalid(problem());
    }
    if FATAL.contains(&code) || status == 401 {
        return Class::Fatal(problem());
    }
    if code == "CBC.0999" || matches!(status, 500 | 502 | 503 | 504) {
        return Class::Transient(problem());
    }
    Class::RowError(problem())
}

/// The SDK's search order: `error_code`+`error_msg`, `errorCode`+`errorMsg`, `code`+`message`,
/// then nested objects.
fn find_error(v: &serde_json::Value) -> Option<Problem> {
    let obj = v.as_object()?;
    for (c, m) in [
        ("error_code", "error_msg"),
        ("errorCode", "errorMsg"),
        ("code", "message"),
    ] {
        if let Some(code) = obj.get(c).and_then(|x| x.as_str()) {
            let msg = obj
                .get(m)
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string();
            return Some(Problem {
                code: code.to_string(),
                msg,
            });
        }
    }
    obj.values().filter(|x| x.is_object()).find_map(find_error)
}

/// A short description of a body that is not the API's JSON (an HTML error page, say).
fn describe_body(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let kind = if trimmed.is_empty() {
        "an empty body".to_string()
    } else if trimmed.starts_with('<') {
        "an HTML page".to_string()
    } else {
        let snippet: String = trimmed.chars().take(120).collect();
        format!("\"{snippet}\"")
    };
    format!("HTTP {status} with {kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            http_status: status,
            body: body.as_bytes().to_vec(),
            ..Reply::default()
        }
    }

    fn class_name(c: &Class) -> &'static str {
        match c {
            Class::Answer { .. } => "answer",
            Class::Invalid(_) => "invalid",
            Class::Throttled(_) => "throttled",
            Class::Transient(_) => "transient",
            Class::Fatal(_) => "fatal",
            Class::RowError(_) => "row error",
        }
    }

    #[test]
    fn contract_table() {
        let v1 = ApiVersion::V1;
        let cases = [
            (
                200,
                r#"{"error_code":"CBC.0000","error_msg":"success","status":"1","uplimit":"0"}"#,
                "answer",
            ),
            (
                200,
                r#"{"error_code":"CBC.0100","error_msg":"bad"}"#,
                "invalid",
            ),
            (
                400,
                r#"{"error_code":"CBC.0101","error_msg":"bad"}"#,
                "invalid",
            ),
            (
                429,
                r#"{"error_code":"APIG.0308","error_msg":"throttled"}"#,
                "throttled",
            ),
            (429, "<html>slow down</html>", "throttled"),
            (
                200,
                r#"{"error_code":"CBC.0250","error_msg":"flow control"}"#,
                "throttled",
            ),
            (
                500,
                r#"{"error_code":"CBC.0999","error_msg":"oops"}"#,
                "transient",
            ),
            (502, "<html><body>Bad Gateway</body></html>", "transient"),
            (503, "", "transient"),
            (
                504,
                r#"{"error_code":"APIG.0203","error_msg":"Backend timeout"}"#,
                "transient",
            ),
            (
                401,
                r#"{"error_code":"APIG.0301","error_msg":"verify aksk signature fail","request_id":"x"}"#,
                "fatal",
            ),
            (
                401,
                r#"{"error_code":"APIG.0307","error_msg":"token expired"}"#,
                "fatal",
            ),
            (401, "", "fatal"),
            (
                403,
                r#"{"error_code":"CBC.0151","error_msg":"denied"}"#,
                "fatal",
            ),
            (
                403,
                r#"{"error_code":"CBC.0155","error_msg":"not allowed"}"#,
                "fatal",
            ),
            (
                200,
                r#"{"error_code":"CBC.5001","error_msg":"not a partner"}"#,
                "fatal",
            ),
            (
                404,
                r#"{"error_code":"APIG.0101","error_msg":"not found"}"#,
                "fatal",
            ),
            (
                403,
                r#"{"error_code":"CBC.0156","error_msg":"other site"}"#,
                "row error",
            ),
            (404, "", "row error"),
            (200, r#"{"error_code":"CBC.0000"}"#, "row error"),
            (
                400,
                r#"{"error":{"code":"X.1","message":"nested"}}"#,
                "row error",
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                class_name(&classify(v1, &reply(status, body))),
                want,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn v2_success_may_omit_error_code() {
        let c = classify(
            ApiVersion::V2,
            &reply(
                200,
                r#"{"check_result":"available","mobile_remain_available_num":0}"#,
            ),
        );
        assert_eq!(
            c,
            Class::Answer {
                status: "0".into(),
                uplimit: "1".into(),
                code: "CBC.0000".into(),
            }
        );
    }

    #[test]
    fn html_bodies_are_described_not_copied() {
        let Class::Transient(p) = classify(ApiVersion::V1, &reply(502, "<html>big page</html>"))
        else {
            panic!()
        };
        assert_eq!(
            p,
            Problem {
                code: "HTTP".into(),
                msg: "HTTP 502 with an HTML page".into()
            }
        );
        let Class::RowError(p) = classify(
            ApiVersion::V1,
            &reply(400, r#"{"error":{"code":"X.1","message":"nested"}}"#),
        ) else {
            panic!()
        };
        assert_eq!(p.code, "X.1");
    }
}
