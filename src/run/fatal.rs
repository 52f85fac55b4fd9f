//! Turning a fatal answer into advice: what probably went wrong and what to do.

use std::time::{Duration, SystemTime};

use crate::api::classify::Problem;

/// Clock differences above this are worth mentioning (the gateway refuses over 15 minutes).
const SKEW_WORTH_SAYING: Duration = Duration::from_secs(180);

/// One paragraph for the user: the API's code and message, then the likely cause.
pub fn explain(p: &Problem, server_date: Option<SystemTime>) -> String {
    let cause = match p.code.as_str() {
        "APIG.0301" => {
            "the gateway refused the credentials: a wrong AK/SK pair, a deleted or \
             disabled AK, or an invalid token. Check HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK (or \
             the credentials file). After more than 5 bad signatures the gateway locks the AK for \
             5 minutes, so the run stopped at the first one."
        }
        "APIG.0307" | "CBC.0154" => {
            "the IAM token has expired or is invalid: get a new token \
             (tokens last 24 hours) or use AK/SK."
        }
        "CBC.0151" | "CBC.0155" => {
            "access denied: the partner id does not belong to these \
             credentials, or the IAM user lacks the partner permission \
             BPC_ITEM_SUBCUSTSERV_010118. Check --partner-id and the user's permissions."
        }
        "CBC.5001" => {
            "this account is not a Huawei Cloud partner: use the partner account's \
             credentials."
        }
        "APIG.0101" => {
            "the API does not exist at this address: check --endpoint (e.g. \
             https://bss-intl.myhuaweicloud.com) and --api."
        }
        _ => "the API refused the credentials (HTTP 401): check them.",
    };
    let mut out = format!("{} {}: {cause}", p.code, p.msg);
    if let Some(skew) = server_date.map(skew_from) {
        if skew.1 > SKEW_WORTH_SAYING {
            out.push_str(&format!(
                " Also, this machine's clock is {} {} the server's; the gateway rejects \
                 signatures more than 15 minutes off: fix the clock (NTP).",
                humantime::format_duration(Duration::from_secs(skew.1.as_secs())),
                if skew.0 { "ahead of" } else { "behind" }
            ));
        }
    }
    out
}

/// (local clock ahead?, difference) between now and the server's `Date`.
pub fn skew_from(server: SystemTime) -> (bool, Duration) {
    match SystemTime::now().duration_since(server) {
        Ok(d) => (true, d),
        Err(e) => (false, e.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(code: &str) -> Problem {
        Problem {
            code: code.into(),
            msg: "msg".into(),
        }
    }

    #[test]
    fn names_the_likely_cause() {
        assert!(explain(&p("APIG.0301"), None).contains("AK/SK"));
        assert!(explain(&p("CBC.0155"), None).contains("--partner-id"));
        assert!(explain(&p("CBC.5001"), None).contains("not a Huawei Cloud partner"));
        assert!(explain(&p("APIG.0101"), None).contains("--endpoint"));
    }

    #[test]
    fn mentions_clock_skew_only_when_large() {
        let behind = SystemTime::now() + Duration::from_secs(20 * 60);
        let msg = explain(&p("APIG.0301"), Some(behind));
        assert!(
            msg.contains("behind the server") && msg.contains("NTP"),
            "{msg}"
        );
        assert!(!explain(&p("APIG.0301"), Some(SystemTime::now())).contains("clock"));
    }
}
