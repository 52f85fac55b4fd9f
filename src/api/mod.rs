//! Talking to the partner API. The engine sees it through [`Checker`] (one check, one
//! classified answer); [`client::Client`] is the real one over HTTP, and engine tests script a
//! fake. [`ApiVersion`] is the one place the version is chosen: its methods hand off to
//! [`v1`] and [`v2`], which own their path, body and answer reading, and import nothing back
//! (only the leaf [`answer`], where a body becomes a typed [`Answer`]); [`wire`] holds what the
//! dispatcher reads whatever the version. Also signing ([`sign`]), credentials ([`credentials`]), answer
//! classes ([`classify`]), retry timing ([`backoff`]), redaction of echoed secrets
//! ([`redact`]), the proxy an endpoint is reached through ([`proxy`]) and advice for fatal
//! answers ([`fatal`]).

pub mod answer;
pub mod backoff;
pub mod classify;
pub mod client;
pub mod credentials;
pub mod fatal;
pub mod notify;
pub mod proxy;
pub mod redact;
pub mod sign;
pub mod v1;
pub mod v2;
pub mod wire;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::model::{Answer, CheckType};

/// One request for one check, classified. `Reply` is `None` when no HTTP answer came
/// (timeout, connection): that is transient.
pub trait Checker: Send + Sync + 'static {
    fn check<'a>(
        &'a self,
        kind: CheckType,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, (classify::Class, Option<classify::Reply>)>;
}

impl Checker for client::Client {
    fn check<'a>(
        &'a self,
        kind: CheckType,
        key: &'a str,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, (classify::Class, Option<classify::Reply>)> {
        Box::pin(client::Client::check(self, kind, key, now))
    }
}

/// Which of the two check calls to use (`--api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiVersion {
    /// POST /v1.0/{partner_id}/partner/customer-mgr/check-user
    V1,
    /// POST /v2/partners/sub-customers/users/check-identity
    V2,
}

impl ApiVersion {
    /// `v1` / `v2`, as stored in the state store's keys.
    pub fn name(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        }
    }

    /// Whether a call cannot be made without a partner id.
    pub fn needs_partner_id(self) -> bool {
        match self {
            ApiVersion::V1 => v1::NEEDS_PARTNER_ID,
            ApiVersion::V2 => v2::NEEDS_PARTNER_ID,
        }
    }

    /// Path of the check call (`partner_id` is needed by v1 only).
    pub fn path(self, partner_id: &str) -> String {
        match self {
            ApiVersion::V1 => v1::path(partner_id),
            ApiVersion::V2 => v2::PATH.to_string(),
        }
    }

    /// The exact bytes sent (and signed) for one check.
    pub fn body(self, kind: CheckType, key: &str) -> Vec<u8> {
        match self {
            ApiVersion::V1 => v1::body(kind, key),
            ApiVersion::V2 => v2::body(kind, key),
        }
    }

    /// The answer a success body gives. A body that also carries the other version's answer
    /// must say the same thing, or it is no answer.
    pub fn parse(self, fields: &answer::Fields) -> Result<Answer, answer::Unreadable> {
        let (answer, other) = match self {
            ApiVersion::V1 => (v1::answer(fields)?, v2::taken(fields)),
            ApiVersion::V2 => (v2::answer(fields)?, v1::taken(fields)),
        };
        match other {
            Some(Ok(taken)) if taken != answer.taken => Err(answer::Unreadable::Ambiguous),
            Some(Err(why)) => Err(why),
            _ => Ok(answer),
        }
    }
}

/// Server text made safe to show or store: secrets redacted ([`redact`], before anything is
/// cut), control characters (ESC, CR, LF, ...) and invisible format characters become spaces,
/// runs of spaces one space, and the length is capped, so that no answer can leak a secret,
/// move a terminal's cursor, split a log line or bloat a file.
pub fn sanitize(text: &str) -> String {
    let text = redact::text(text);
    let mut out = String::with_capacity(text.len().min(MAX_SERVER_TEXT));
    for c in text.chars() {
        let c = if c.is_control()
            || crate::normalize::is_invisible(c)
            || matches!(c, '\u{2028}' | '\u{2029}')
        {
            ' '
        } else {
            c
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_SERVER_TEXT {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

/// The longest server text kept (an error message is a sentence).
const MAX_SERVER_TEXT: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(taken: bool, uplimit: bool) -> Answer {
        Answer { taken, uplimit }
    }

    #[test]
    fn bodies_use_each_versions_key_names() {
        assert_eq!(
            ApiVersion::V1.body(CheckType::Email, "a@b.cd"),
            br#"{"searchType":"email","searchKey":"a@b.cd"}"#
        );
        assert_eq!(
            ApiVersion::V2.body(CheckType::Mobile, "0086-1"),
            br#"{"search_type":"mobile","search_value":"0086-1"}"#
        );
        assert_eq!(
            ApiVersion::V1.path("p1"),
            "/v1.0/p1/partner/customer-mgr/check-user"
        );
    }

    #[test]
    fn v2_answers_map_to_taken_and_uplimit() {
        let parse = |s: &str| ApiVersion::V2.parse(&serde_json::from_str(s).unwrap());
        assert_eq!(
            parse(r#"{"check_result":"used_by_user"}"#),
            Ok(answer(true, false))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":0}"#),
            Ok(answer(false, true))
        );
        assert_eq!(
            parse(r#"{"check_result":"available","mobile_remain_available_num":3}"#),
            Ok(answer(false, false))
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
        let parse = |s: &str| ApiVersion::V1.parse(&serde_json::from_str(s).unwrap());
        assert_eq!(
            parse(r#"{"status":1,"uplimit":"0"}"#),
            Ok(answer(true, false))
        );
        assert_eq!(
            parse(r#"{"status":"0","uplimit":0}"#),
            Ok(answer(false, false))
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

    #[test]
    fn a_body_with_both_versions_answers_must_agree() {
        let parse = |api: ApiVersion, s: &str| api.parse(&serde_json::from_str(s).unwrap());
        let both = r#"{"status":"1","uplimit":"0","check_result":"used_by_user"}"#;
        assert_eq!(parse(ApiVersion::V1, both), Ok(answer(true, false)));
        assert_eq!(parse(ApiVersion::V2, both), Ok(answer(true, false)));
        let split = r#"{"status":"0","uplimit":"0","check_result":"used_by_user"}"#;
        for api in [ApiVersion::V1, ApiVersion::V2] {
            assert_eq!(parse(api, split), Err(answer::Unreadable::Ambiguous));
        }
        let odd = r#"{"status":"x","uplimit":"0","check_result":"available"}"#;
        assert!(parse(ApiVersion::V2, odd).is_err());
    }

    #[test]
    fn server_text_loses_control_characters() {
        assert_eq!(
            sanitize("bad\x1b[2J\r\nline\u{202E}two"),
            "bad [2J line two"
        );
        assert_eq!(sanitize("  ok  "), "ok");
        let long = "x".repeat(2000);
        assert!(sanitize(&long).chars().count() <= MAX_SERVER_TEXT + 1);
    }
}
