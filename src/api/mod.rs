//! Talking to the partner API. The engine sees it through [`Checker`] (one check, one
//! classified answer); [`client::Client`] is the real one over HTTP, and engine tests script a
//! fake. Each API version owns its path, body and answer reading ([`v1`], [`v2`]); [`wire`]
//! holds what they share. Also signing ([`sign`]), credentials ([`credentials`]), answer
//! classes ([`classify`]), retry timing ([`backoff`]), redaction of echoed secrets
//! ([`redact`]), the proxy an endpoint is reached through ([`proxy`]) and advice for fatal
//! answers ([`fatal`]).

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

use crate::model::CheckType;

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
