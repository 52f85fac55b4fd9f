//! API v2, `check-identity`: no partner id in the path; the body says `search_type` and
//! `search_value`; the answer says `check_result` (`available`/`used_by_user`) and, for
//! mobiles, `mobile_remain_available_num` (0 means the registration limit is reached).
//! Reached through [`super::ApiVersion`]; imports only the leaf [`super::answer`] and the
//! model.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::{Answer, Fields, Unreadable};
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

/// The answer by the contract's rule (`used_by_user` is taken, a mobile with no registration
/// left is at its limit); `Err` names a missing or undocumented field.
pub fn answer(f: &Fields) -> Result<Answer, Unreadable> {
    let taken = match f.check_result.as_ref() {
        Some(Value::String(s)) if s == "used_by_user" => true,
        Some(Value::String(s)) if s == "available" => false,
        None => return Err(Unreadable::Missing("check_result")),
        Some(other) => return Err(bad("check_result", other, "a documented value")),
    };
    let uplimit = match f.mobile_remain_available_num.as_ref() {
        None => false,
        Some(v) => match v.as_u64() {
            Some(left) => left == 0,
            None => return Err(bad("mobile_remain_available_num", v, "a count")),
        },
    };
    Ok(Answer { taken, uplimit })
}

/// Whether the value is taken, if the body says so in v2's words (a v1 body that holds a
/// `check_result` too must agree with itself).
pub fn taken(f: &Fields) -> Option<Result<bool, Unreadable>> {
    f.check_result.is_some().then(|| answer(f).map(|a| a.taken))
}

fn bad(field: &'static str, value: &Value, expected: &'static str) -> Unreadable {
    Unreadable::Bad {
        field,
        value: value.clone(),
        expected,
    }
}
