//! API v1, `check-user`: the partner id is part of the path; the body says `searchType` and
//! `searchKey`; the answer says `status` and `uplimit` (`"0"`/`"1"`).

use serde::{Deserialize, Serialize};

use super::wire::{flag, AnswerBody};
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

/// (status, uplimit) as the answer states them; `Err` names a missing or undocumented field.
pub fn answer(b: &AnswerBody) -> Result<(&'static str, &'static str), String> {
    Ok((
        flag("status", b.status.as_ref())?,
        flag("uplimit", b.uplimit.as_ref())?,
    ))
}
