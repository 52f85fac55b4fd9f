//! API v1, `check-user`: the partner id is part of the path; the body says `searchType` and
//! `searchKey`; the answer says `status` and `uplimit` (`"0"`/`"1"`). Reached through
//! [`super::ApiVersion`]; imports only the leaf [`super::answer`] and the model.

use serde::{Deserialize, Serialize};

use super::answer::{flag, Answer, Fields, Unreadable};
use crate::model::CheckType;

/// v1 cannot be called without a partner id: it is part of the path.
pub const NEEDS_PARTNER_ID: bool = true;

/// The path of the call for a partner.
pub fn path(partner_id: &str) -> String {
    format!("/v1.0/{partner_id}/partner/customer-mgr/check-user")
}

#[derive(Serialize, Deserialize)]
pub struct Request<'a> {
    #[serde(rename = "searchType")]
    pub search_type: &'a str,
    #[serde(rename = "searchKey")]
    pub search_key: &'a str,
}

/// The exact bytes sent (and signed) for one check.
pub fn body(kind: CheckType, key: &str) -> Vec<u8> {
    serde_json::to_vec(&Request {
        search_type: kind.as_str(),
        search_key: key,
    })
    .expect("serializing two strings cannot fail")
}

/// The answer as the body states it; `Err` names a missing or undocumented field.
pub fn answer(f: &Fields) -> Result<Answer, Unreadable> {
    Ok(Answer {
        taken: flag("status", f.status.as_ref())?,
        uplimit: flag("uplimit", f.uplimit.as_ref())?,
    })
}

/// Whether the value is taken, if the body says so in v1's words (a v2 body that holds a
/// `status` too must agree with itself).
pub fn taken(f: &Fields) -> Option<Result<bool, Unreadable>> {
    f.status
        .is_some()
        .then(|| flag("status", f.status.as_ref()))
}
