//! Turning a fatal answer into advice: what probably went wrong and what to do.

use std::time::{Duration, SystemTime};

use crate::api::classify::{fatal_cause, Problem};

/// Clock differences above this are worth mentioning (the gateway refuses over 15 minutes).
const SKEW_WORTH_SAYING: Duration = Duration::from_secs(180);

/// One paragraph for the user: the API's code and message, then the likely cause.
pub fn explain(p: &Problem, server_date: Option<SystemTime>) -> String {
    let cause =
        fatal_cause(&p.code).unwrap_or("the API refused the credentials (HTTP 401): check them.");
    let mut out = format!("{} {}: {cause}", p.code, p.msg);
    if let Some(skew) = server_date.map(crate::api::sign::skew_from) {
        if skew.1 > SKEW_WORTH_SAYING {
            out.push_str(&format!(
                " Also, this machine's clock is {} {} the server's; the gateway rejects \
                 signatures more than {} off: fix the clock (NTP).",
                humantime::format_duration(Duration::from_secs(skew.1.as_secs())),
                if skew.0 { "ahead of" } else { "behind" },
                humantime::format_duration(crate::api::sign::CLOCK_WINDOW)
            ));
        }
    }
    out
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
