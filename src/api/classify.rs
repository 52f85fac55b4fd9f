//! Every answer falls in one of the contract's classes; the run's behaviour depends only on
//! the class. The body's `error_code` is read first, the HTTP status second.

use std::time::{Duration, SystemTime};

use crate::api::answer::Fields;
use crate::api::sanitize;
use crate::api::wire;
use crate::api::ApiVersion;
use crate::model::Answer;

/// What came back from one HTTP exchange.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub http_status: u16,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// The server's `Date` header, to detect clock skew.
    pub date: Option<SystemTime>,
    /// The `Location` of a redirect (never followed), as sent.
    pub location: Option<String>,
    /// The body was longer than [`MAX_BODY`]; `body` holds only its start.
    pub oversized: bool,
}

/// Answers longer than this are not read on (the API's answers are a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

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
    Answer { answer: Answer, code: String },
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

impl Class {
    /// The problem this class carries, if any (an answer carries none).
    pub fn problem_mut(&mut self) -> Option<&mut Problem> {
        match self {
            Class::Answer { .. } => None,
            Class::Invalid(p)
            | Class::Throttled(p)
            | Class::Transient(p)
            | Class::Fatal(p)
            | Class::RowError(p) => Some(p),
        }
    }
}

/// The fatal codes, each with the likely cause people are told: the one list of them.
const FATAL: &[(&str, &str)] = &[
    (
        "APIG.0301",
        "the gateway refused the credentials: a wrong AK/SK pair, a deleted or disabled AK, or \
         an invalid token. Check HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (or the credentials \
         file). After more than 5 bad signatures the gateway locks the AK for 5 minutes, so the \
         run stopped at the first one.",
    ),
    (
        "APIG.0302",
        "IAM refused to authorize the request: the AK's user lacks the permission for this \
         API, or the account is restricted. Check the IAM user's policies.",
    ),
    (
        "APIG.0307",
        "the IAM token has expired or is invalid: get a new token (tokens last 24 hours) or use \
         AK/SK.",
    ),
    (
        "CBC.0154",
        "the IAM token has expired or is invalid: get a new token (tokens last 24 hours) or use \
         AK/SK.",
    ),
    (
        "CBC.0151",
        "access denied: the partner id does not belong to these credentials, or the IAM user \
         lacks the partner permission BPC_ITEM_SUBCUSTSERV_010118. Check --partner-id and the \
         user's permissions.",
    ),
    (
        "CBC.0155",
        "access denied: the partner id does not belong to these credentials, or the IAM user \
         lacks the partner permission BPC_ITEM_SUBCUSTSERV_010118. Check --partner-id and the \
         user's permissions.",
    ),
    (
        "CBC.5001",
        "this account is not a Huawei Cloud partner: use the partner account's credentials.",
    ),
    (
        "APIG.0101",
        "the API does not exist at this address: check --endpoint (e.g. \
         https://bss-intl.myhuaweicloud.com) and --api.",
    ),
];

/// The likely cause of a fatal code, for people; `None` for codes that are not fatal.
pub fn fatal_cause(code: &str) -> Option<&'static str> {
    FATAL.iter().find(|(c, _)| *c == code).map(|(_, why)| *why)
}

/// The code of an answer that is not one of the documented values.
pub const BAD_ANSWER: &str = "BAD_ANSWER";

/// Classifies a reply.
pub fn classify(api: ApiVersion, reply: &Reply) -> Class {
    let status = reply.http_status;
    if reply.oversized {
        let p = Problem {
            code: "HTTP".into(),
            msg: format!(
                "HTTP {status} with an answer longer than {} KiB (not read on)",
                MAX_BODY / 1024
            ),
        };
        return match status {
            429 => Class::Throttled(p),
            500 | 502 | 503 | 504 => Class::Transient(p),
            _ => Class::RowError(p),
        };
    }
    if (300..400).contains(&status) {
        let to = reply.location.as_deref().map(sanitize);
        return Class::RowError(Problem {
            code: "HTTP".into(),
            msg: format!(
                "HTTP {status} redirect to {}: redirects are never followed (credentials and \
                 lead data go to --endpoint only); check --endpoint",
                to.as_deref().unwrap_or("(no Location)")
            ),
        });
    }
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    let found = parsed.as_ref().and_then(find_error);
    let problem = || match &found {
        Some(p) => p.clone(),
        None => Problem {
            code: "HTTP".into(),
            msg: describe_body(status, &reply.body),
        },
    };
    let code = found.as_ref().map(|p| p.code.as_str()).unwrap_or("");
    let success = (200..300).contains(&status);
    if status == 429 || code == "APIG.0308" || code == "CBC.0250" {
        return Class::Throttled(problem());
    }
    if code == "CBC.0000" || (code.is_empty() && success && parsed.is_some()) {
        return match read_answer(api, reply, parsed.as_ref(), code) {
            Ok(answer) => Class::Answer {
                answer,
                code: "CBC.0000".into(),
            },
            Err(msg) => Class::RowError(Problem {
                code: BAD_ANSWER.into(),
                msg,
            }),
        };
    }
    if code == "CBC.0100" || code == "CBC.0101" {
        return Class::Invalid(problem());
    }
    if fatal_cause(code).is_some() || status == 401 {
        return Class::Fatal(problem());
    }
    if code == "CBC.0999" || matches!(status, 500 | 502 | 503 | 504) {
        return Class::Transient(problem());
    }
    Class::RowError(problem())
}

/// The answer of a reply that claims success (`CBC.0000`, or no code at all), or why it is
/// none (the message of a `BAD_ANSWER`).
fn read_answer(
    api: ApiVersion,
    reply: &Reply,
    parsed: Option<&serde_json::Value>,
    code: &str,
) -> Result<Answer, String> {
    let status = reply.http_status;
    if !(200..300).contains(&status) {
        return Err(format!(
            "CBC.0000 (success) with HTTP {status}: not taken as an answer"
        ));
    }
    if let Some(key) = wire::conflicting_key(&reply.body, &wire::ANSWER_KEYS) {
        return Err(format!(
            "the answer holds \"{key}\" twice with different values, so its meaning \
             depends on who reads it"
        ));
    }
    // Only an object is an answer (a struct also reads from an array, by position).
    let Some((value, obj)) = parsed.and_then(|v| Some((v, v.as_object()?))) else {
        return Err("the answer is not a JSON object".into());
    };
    if code.is_empty() {
        claims_no_error(obj)?;
    }
    let fields = <Fields as serde::Deserialize>::deserialize(value).map_err(|e| {
        sanitize(&format!(
            "the answer does not have the documented shape: {e}"
        ))
    })?;
    api.parse(&fields)
        .map_err(|why| sanitize(&wire::said(&why)))
}

/// A body with no readable code is an answer only if it claims none and reports no error.
/// A null is an absent field (how some servers write an omitted one).
fn claims_no_error(obj: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    let key = |keys: [&'static str; 3]| {
        keys.into_iter()
            .find_map(|k| obj.get(k).filter(|v| !v.is_null()).map(|v| (k, v)))
    };
    if let Some((k, v)) =
        key(["error_code", "errorCode", "code"]).filter(|(_, v)| v.as_str() != Some(""))
    {
        return Err(sanitize(&format!(
            "{k} {} is not a documented code",
            wire::shown(v)
        )));
    }
    let harmless = |m: &str| {
        ["", "success", "ok"]
            .iter()
            .any(|f| m.eq_ignore_ascii_case(f))
    };
    match key(["error_msg", "errorMsg", "message"])
        .filter(|(_, v)| v.as_str().map(str::trim).is_none_or(|m| !harmless(m)))
    {
        Some((k, v)) => Err(sanitize(&format!(
            "{k} {} with no error code: not taken as an answer",
            wire::shown(v)
        ))),
        None => Ok(()),
    }
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
            let msg = obj.get(m).and_then(|x| x.as_str()).unwrap_or("");
            return Some(Problem {
                code: sanitize(code),
                msg: sanitize(msg),
            });
        }
    }
    obj.values().filter(|x| x.is_object()).find_map(find_error)
}

/// A short description of a body that is not the API's JSON (an HTML error page, say).
fn describe_body(status: u16, body: &[u8]) -> String {
    let head = &body[..body.len().min(512)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim();
    let binary = trimmed.contains('\u{FFFD}')
        || trimmed
            .chars()
            .any(|c| c.is_control() && !c.is_whitespace());
    let kind = if trimmed.is_empty() {
        "an empty body".to_string()
    } else if binary {
        format!("a binary body of {} bytes (compressed?)", body.len())
    } else if trimmed.starts_with('<') {
        "an HTML page".to_string()
    } else {
        // Cut after sanitizing: a secret is taken out whole, never cut first and missed.
        let clean = sanitize(trimmed);
        let snippet: String = clean.chars().take(120).collect();
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
                403,
                r#"{"error_code":"APIG.0302","error_msg":"iam authorization failed"}"#,
                "fatal",
            ),
            (302, "", "row error"),
            (
                307,
                r#"{"error_code":"CBC.0000","status":"0","uplimit":"0"}"#,
                "row error",
            ),
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
    fn a_key_given_twice_counts_only_when_it_changes_an_answer() {
        for (body, want) in [
            (
                r#"{"error_code":"APIG.0301","error_code":"APIG.0301"}"#,
                "fatal",
            ),
            (
                r#"{"error_code":"CBC.0999","error_msg":"a","error_msg":"b"}"#,
                "transient",
            ),
            (
                r#"{"error_code":"CBC.0100","error_msg":"x","error_msg":"x"}"#,
                "invalid",
            ),
            (
                r#"{"error_code":"CBC.0250","error_code":"CBC.0250"}"#,
                "throttled",
            ),
            (
                r#"{"error_code":"CBC.0000","error_msg":"ok","status":"0","uplimit":"0","error_msg":"no"}"#,
                "answer",
            ),
            (
                r#"{"error_code":"CBC.0000","status":"0","status":"0","uplimit":"0"}"#,
                "answer",
            ),
            (
                r#"{"error_code":"CBC.0000","st\u0061tus":"1","status":"0","uplimit":"0"}"#,
                "row error",
            ),
            (
                r#"{"error_code":"CBC.0000","status":"0","uplimit":"0","x":{"status":"1"}}"#,
                "answer",
            ),
        ] {
            let c = classify(ApiVersion::V1, &reply(200, body));
            assert_eq!(class_name(&c), want, "{body}: {c:?}");
        }
    }

    #[test]
    fn v2_success_may_omit_error_code() {
        for body in [
            r#"{"check_result":"available","mobile_remain_available_num":0}"#,
            r#"{"error_msg":"success","check_result":"available","mobile_remain_available_num":0}"#,
            r#"{"error_code":"","check_result":"available","mobile_remain_available_num":0}"#,
            r#"{"error_code":null,"error_msg":null,"check_result":"available","mobile_remain_available_num":0}"#,
            r#"{"error_msg":"OK","check_result":"available","mobile_remain_available_num":0}"#,
        ] {
            let c = classify(ApiVersion::V2, &reply(200, body));
            let answer = Class::Answer {
                answer: Answer {
                    taken: false,
                    uplimit: true,
                },
                code: "CBC.0000".into(),
            };
            assert_eq!(c, answer, "{body}");
        }
        for body in [
            r#"[null,null,"used_by_user",0]"#,
            r#"{"error_code":12,"check_result":"available"}"#,
            r#"{"error_msg":"Request failed","check_result":"available"}"#,
            r#"{"check_result":"available","status":"1"}"#,
        ] {
            let c = classify(ApiVersion::V2, &reply(200, body));
            assert_eq!(class_name(&c), "row error", "{body}: {c:?}");
        }
    }

    #[test]
    fn undocumented_answers_are_bad_answers_not_free() {
        for (status, body) in [
            (200, r#"{"error_code":"CBC.0000","status":2,"uplimit":"0"}"#),
            (
                200,
                r#"{"error_code":"CBC.0000","status":"exists","uplimit":"0"}"#,
            ),
            (
                200,
                r#"{"error_code":"CBC.0000","status":null,"uplimit":"0"}"#,
            ),
            (200, r#"{"error_code":"CBC.0000","uplimit":"0"}"#),
            (200, r#"{"error_code":"CBC.0000","status":"0"}"#),
            (
                500,
                r#"{"error_code":"CBC.0000","status":"0","uplimit":"0"}"#,
            ),
            (
                200,
                r#"{"status":"0","uplimit":"0","error_code":"CBC.0000","extra":[1]}"#,
            ),
            (200, r#"{}"#),
            (200, r#"["1","0"]"#),
            (200, r#"{"error_code":999,"status":"0","uplimit":"0"}"#),
            (
                200,
                r#"{"error_code":{"x":"CBC.0100"},"status":"1","uplimit":"0"}"#,
            ),
            (
                200,
                r#"{"error_code":"CBC.0000","status":"0","uplimit":"0","check_result":"used_by_user"}"#,
            ),
            (
                200,
                r#"{"error_msg":"Request failed","status":"0","uplimit":"0"}"#,
            ),
            (
                200,
                r#"{"error_code":"CBC.0000","status":"1","uplimit":"0","status":"0"}"#,
            ),
            (
                200,
                r#"{"error_code":"CBC.0100","error_code":"CBC.0000","status":"0","uplimit":"0"}"#,
            ),
        ] {
            let c = classify(ApiVersion::V1, &reply(status, body));
            if status == 200 && body.contains("extra") {
                assert_eq!(class_name(&c), "answer", "{body}");
                continue;
            }
            let Class::RowError(p) = c else {
                panic!("{status} {body}: {c:?}")
            };
            assert_eq!(p.code, BAD_ANSWER, "{status} {body}");
        }
    }

    #[test]
    fn redirects_and_oversized_bodies_are_never_answers() {
        let mut r = reply(302, "");
        r.location = Some("http://evil.example/\x1b[2Jsteal".into());
        let Class::RowError(p) = classify(ApiVersion::V1, &r) else {
            panic!()
        };
        assert!(
            p.msg.contains("redirect to http://evil.example/ [2Jsteal"),
            "{}",
            p.msg
        );
        let mut r = reply(
            200,
            r#"{"error_code":"CBC.0000","status":"0","uplimit":"0"}"#,
        );
        r.oversized = true;
        assert_eq!(class_name(&classify(ApiVersion::V1, &r)), "row error");
        r.http_status = 503;
        assert_eq!(class_name(&classify(ApiVersion::V1, &r)), "transient");
    }

    #[test]
    fn server_text_is_sanitized() {
        let Class::RowError(p) = classify(
            ApiVersion::V1,
            &reply(
                400,
                "{\"error_code\":\"X.1\",\"error_msg\":\"a\\u001b[31mred\\r\\nfake log line\"}",
            ),
        ) else {
            panic!()
        };
        assert_eq!(p.msg, "a [31mred fake log line");
        let Class::RowError(p) = classify(ApiVersion::V1, &reply(400, "\x1f\u{8b}\x08\0\0binary"))
        else {
            panic!()
        };
        assert!(p.msg.contains("binary body"), "{}", p.msg);
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
