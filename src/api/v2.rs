//! API v2, `check-identity`: no partner id in the path; the body says `search_type` and
//! `search_value`; the answer says `check_result` (`available`/`used_by_user`) and, for
//! mobiles, `mobile_remain_available_num` (0 means the registration limit is reached).

use serde::{Deserialize, Serialize};

use super::wire::{shown, AnswerBody};
use crate::model::CheckType;

/// v2 is called without a partner id (answers are still keyed by the account).
pub const NEEDS_PARTNER_ID: bool = false;

pub const PATH: &str = "/v2/partners/sub-customers/users/check-identity";

#[derive(Serialize, Deserialize)]
pub struct Request<'a> {
    pub search_type: &'a str,
    pub search_value: &'a str,
}

/// The exact bytes sent (and signed) for one check.
pub fn body(kind: CheckType, key: &str) -> Vec<u8> {
    serde_json::to_vec(&Request {
        search_type: kind.as_str(),
        search_value: key,
    })
    .expect("serializing two strings cannot fail")
}

/// The answer mapped to v1's (status, uplimit) by the contract's rule; `Err` names a missing
/// or undocumented field.
pub fn answer(b: &AnswerBody) -> Result<(&'static str, &'static str), String> {
    let status = match b.check_result.as_ref() {
        Some(serde_json::Value::String(s)) if s == "used_by_user" => "1",
        Some(serde_json::Value::String(s)) if s == "available" => "0",
        None => return Err("the answer has no check_result".into()),
        Some(other) => {
            return Err(format!(
                "check_result {} is not a documented value",
                shown(other)
            ))
        }
    };
    let uplimit = match b.mobile_remain_available_num.as_ref() {
        None => "0",
        Some(v) => match v.as_u64() {
            Some(0) => "1",
            Some(_) => "0",
            None => {
                return Err(format!(
                    "mobile_remain_available_num {} is not a count",
                    shown(v)
                ))
            }
        },
    };
    Ok((status, uplimit))
}
