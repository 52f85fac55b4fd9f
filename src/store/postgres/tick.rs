//! Team mode's one statement. Everything a run needs from the database in one round trip:
//! renew this run's leases, record answers under their fencing tokens (and tell the other
//! runs by `NOTIFY`, the answer in the payload), give claims back, claim keys unless a run of
//! the team answered them since this run joined, and reserve one quota slot per key claimed
//! (plus any asked for retries), all on the database's clock. Runs batch into it whatever
//! accumulated since their last one, so the database's work per request does not grow with
//! the number of runs.

use anyhow::{anyhow, Result};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use crate::model::{Answer, CheckType, Outcome, ResultKind, Source};
use crate::store::Scope;

/// Where answers are announced; the payload names the scope.
pub const CHANNEL: &str = "checkuser_answers";

/// A payload must stay under PostgreSQL's 8000 bytes; a bigger answer is announced without
/// itself (the listener then asks for it).
const PAYLOAD_MAX: usize = 7900;

/// Parameters: $1-$3 scope, $4 run id, $5 lease (s), $6 joined (epoch s, database clock),
/// $7 rate margin, $8 records (JSON), $9 claims (JSON), $10 this run's rate, $11 extra slots,
/// $12 throttle push (s), $13 released tokens (JSON), $14 horizon (s): keys are claimed only
/// as far as the bucket has slots within the horizon (at least one per statement), so a run
/// never holds claims for slots far ahead, and a run that joins late is not queued behind
/// them; the keys beyond are deferred (the reply says how many were taken). $15: the keys a
/// statement claims at least (when it has them), however far ahead the bucket is. $16: this
/// statement leaves the team (the run's row and any claim it still holds go; none of the
/// rows it records).
pub const SQL: &str = "
WITH now AS MATERIALIZED (SELECT clock_timestamp() AS t),
r AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($8::text::jsonb) AS r(kind text, key text,
    token bigint, result text, status text, uplimit text, error_code text, error_msg text,
    http_status int, request_id text, checked_at bigint, prev_result text,
    prev_checked_at bigint, change_unreported bool, payload text)),
q AS MATERIALIZED (SELECT q.kind, q.key, q.i
    FROM ROWS FROM (jsonb_to_recordset($9::text::jsonb) AS (kind text, key text))
    WITH ORDINALITY AS q(kind, key, i)),
gone AS MATERIALIZED (SELECT jsonb_array_elements_text($13::text::jsonb)::bigint AS token),
mine AS MATERIALIZED (SELECT token FROM r UNION ALL SELECT token FROM gone),
beat AS (UPDATE runs SET heartbeat = (SELECT t FROM now) WHERE id = $4::text
    AND NOT $16::bool),
bye AS (DELETE FROM runs WHERE id = $4::text AND $16::bool),
rel AS (DELETE FROM claims WHERE run_id = $4::text AND answered_at IS NULL
    AND (token IN (SELECT token FROM gone)
      OR ($16::bool AND token NOT IN (SELECT token FROM mine)))),
renew AS (UPDATE claims c SET expires = (SELECT t FROM now) + $5::float8 * interval '1 second'
    WHERE c.run_id = $4::text AND c.answered_at IS NULL AND NOT $16::bool
      AND c.token NOT IN (SELECT token FROM mine)
    RETURNING c.token),
done AS (UPDATE claims c SET answered_at = (SELECT t FROM now), expires = (SELECT t FROM now)
    FROM r WHERE c.host = $1::text AND c.partner = $2::text AND c.api = $3::text
      AND c.kind = r.kind AND c.key = r.key AND c.token = r.token AND c.run_id = $4::text
      AND c.answered_at IS NULL
    RETURNING c.kind, c.key, c.token),
up AS (INSERT INTO answers AS a (host, partner, api, kind, key, result, status, uplimit,
        error_code, error_msg, http_status, request_id, checked_at, prev_result,
        prev_checked_at, change_unreported)
    SELECT $1::text, $2::text, $3::text, r.kind, r.key, r.result, r.status, r.uplimit,
        r.error_code, r.error_msg, r.http_status, r.request_id,
        floor(EXTRACT(EPOCH FROM (SELECT t FROM now)))::bigint, r.prev_result,
        r.prev_checked_at, r.change_unreported
    FROM r JOIN done ON done.kind = r.kind AND done.key = r.key AND done.token = r.token
    ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET
      result = excluded.result, status = excluded.status, uplimit = excluded.uplimit,
      error_code = excluded.error_code, error_msg = excluded.error_msg,
      http_status = excluded.http_status, request_id = excluded.request_id,
      checked_at = excluded.checked_at, prev_result = excluded.prev_result,
      prev_checked_at = excluded.prev_checked_at, change_unreported = excluded.change_unreported
    RETURNING 1),
told AS MATERIALIZED (SELECT pg_notify('checkuser_answers', r.payload)
    FROM r JOIN done ON done.kind = r.kind AND done.key = r.key AND done.token = r.token),
gap AS MATERIALIZED (SELECT 1.0::float8 / (COALESCE(MIN(rate), $10::float8) * $7::float8) AS s
    FROM runs WHERE host = $1::text AND partner = $2::text AND api = $3::text
      AND heartbeat > (SELECT t FROM now) - interval '60 seconds'),
allowed AS MATERIALIZED (SELECT GREATEST($15::int8, floor(($14::float8 - COALESCE((SELECT
        GREATEST(EXTRACT(EPOCH FROM (b.tat - (SELECT t FROM now)))::float8, 0.0) FROM quota b
        WHERE b.host = $1::text AND b.partner = $2::text AND b.api = $3::text), 0.0))
      / (SELECT s FROM gap)))::int8 AS n),
free AS MATERIALIZED (SELECT q.kind, q.key, q.i FROM q LEFT JOIN claims c
    ON c.host = $1::text AND c.partner = $2::text AND c.api = $3::text
      AND c.kind = q.kind AND c.key = q.key
    WHERE c.key IS NULL
       OR (c.answered_at IS NULL AND (c.expires < (SELECT t FROM now) OR c.run_id = $4::text))
       OR (c.answered_at IS NOT NULL AND c.answered_at < to_timestamp($6::float8))),
tried AS MATERIALIZED (SELECT * FROM free ORDER BY i LIMIT (SELECT n FROM allowed)),
got AS (INSERT INTO claims AS c (host, partner, api, kind, key, run_id, token, expires)
    SELECT $1::text, $2::text, $3::text, q.kind, q.key, $4::text,
        nextval('checkuser_claim_token'), (SELECT t FROM now) + $5::float8 * interval '1 second'
    FROM tried q
    ON CONFLICT (host, partner, api, kind, key) DO UPDATE SET run_id = excluded.run_id,
        token = excluded.token, expires = excluded.expires, answered_at = NULL
    WHERE (c.answered_at IS NULL
           AND (c.expires < (SELECT t FROM now) OR c.run_id = excluded.run_id))
       OR (c.answered_at IS NOT NULL AND c.answered_at < to_timestamp($6::float8))
    RETURNING c.kind, c.key, c.token),
n AS MATERIALIZED (SELECT (SELECT count(*) FROM got) + $11::int8 AS k),
slots AS (INSERT INTO quota AS b (host, partner, api, tat)
    SELECT $1::text, $2::text, $3::text,
        GREATEST((SELECT t FROM now), (SELECT t FROM now) + $12::float8 * interval '1 second')
        + ((SELECT k FROM n) * (SELECT s FROM gap)) * interval '1 second'
    WHERE (SELECT k FROM n) > 0 OR $12::float8 > 0
    ON CONFLICT (host, partner, api) DO UPDATE SET tat = GREATEST(b.tat, (SELECT t FROM now),
        (SELECT t FROM now) + $12::float8 * interval '1 second')
        + ((SELECT k FROM n) * (SELECT s FROM gap)) * interval '1 second'
    RETURNING EXTRACT(EPOCH FROM (b.tat - (SELECT t FROM now)))::float8 AS ahead)
SELECT
  (SELECT COALESCE(json_agg(token), '[]'::json) FROM renew)::text,
  (SELECT COALESCE(json_agg(token), '[]'::json) FROM done)::text,
  (SELECT COALESCE(json_agg(json_build_object('kind', got.kind, 'key', got.key,
      'token', got.token, 'before', to_jsonb(a))), '[]'::json)
   FROM got LEFT JOIN answers a ON a.host = $1::text AND a.partner = $2::text
     AND a.api = $3::text AND a.kind = got.kind AND a.key = got.key)::text,
  (SELECT COALESCE(json_agg(json_build_object('kind', q.kind, 'key', q.key,
      'answered', c.answered_at >= to_timestamp($6::float8),
      'expires_in', EXTRACT(EPOCH FROM (c.expires - (SELECT t FROM now)))::float8,
      'answer', CASE WHEN c.answered_at >= to_timestamp($6::float8) THEN to_jsonb(a) END)),
      '[]'::json)
   FROM q LEFT JOIN claims c ON c.host = $1::text AND c.partner = $2::text
       AND c.api = $3::text AND c.kind = q.kind AND c.key = q.key
     LEFT JOIN answers a ON a.host = $1::text AND a.partner = $2::text
       AND a.api = $3::text AND a.kind = q.kind AND a.key = q.key
   WHERE NOT EXISTS (SELECT 1 FROM got WHERE got.kind = q.kind AND got.key = q.key)
     AND NOT EXISTS (SELECT 1 FROM free WHERE free.i = q.i
       AND NOT EXISTS (SELECT 1 FROM tried WHERE tried.i = q.i)))::text,
  (SELECT ahead FROM slots),
  (SELECT s FROM gap),
  (SELECT k FROM n),
  (SELECT count(*) FROM told),
  (SELECT count(*) FROM up),
  (SELECT COALESCE(json_agg(free.i), '[]'::json) FROM free
     WHERE NOT EXISTS (SELECT 1 FROM tried WHERE tried.i = free.i))::text,
  (SELECT GREATEST(EXTRACT(EPOCH FROM (b.tat - (SELECT t FROM now)))::float8, 0.0) FROM quota b
     WHERE b.host = $1::text AND b.partner = $2::text AND b.api = $3::text)";

/// An answer to record under a token.
pub struct Record {
    pub kind: CheckType,
    pub token: i64,
    /// The row as the store's rules decided it.
    pub row: Outcome,
}

/// What one statement came to.
#[derive(Debug, Default)]
pub struct Reply {
    /// Tokens whose lease was renewed.
    pub renewed: Vec<i64>,
    /// Tokens whose answer was recorded (the others were fenced out).
    pub recorded: Vec<i64>,
    /// Keys claimed: (kind, key, token, the row held then).
    pub granted: Vec<(CheckType, String, i64, Option<Outcome>)>,
    /// Keys not claimed: (kind, key, answer recorded since this run joined, seconds until
    /// the holder's lease ends).
    pub refused: Vec<(CheckType, String, Option<Outcome>, f64)>,
    /// Seconds from the database's now to the end of the slots reserved, if any.
    pub ahead: Option<f64>,
    /// Seconds between two slots.
    pub gap: f64,
    /// Slots reserved.
    pub slots: i64,
    /// The keys asked for that are free but that the bucket had no room for yet, by their
    /// place (from 1) in the order sent: claimed with a later statement.
    pub deferred: Vec<usize>,
    /// How far ahead of now the bucket was before this statement (seconds).
    pub bucket: f64,
}

/// The records parameter: each row with its payload for the other runs.
pub fn records_json(scope: &Scope, records: &[&Record]) -> String {
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut v = answer_json(&r.row);
            v["kind"] = json!(r.kind.as_str());
            v["token"] = json!(r.token);
            v["payload"] = json!(payload(scope, r.kind, &r.row));
            v
        })
        .collect();
    Value::Array(rows).to_string()
}

/// The claims parameter.
pub fn claims_json(claims: &[(CheckType, String)]) -> String {
    let rows: Vec<Value> = claims
        .iter()
        .map(|(k, v)| json!({"kind": k.as_str(), "key": v}))
        .collect();
    Value::Array(rows).to_string()
}

/// How a scope is named in payloads.
pub fn scope_tag(scope: &Scope) -> String {
    format!("{}\u{1f}{}\u{1f}{}", scope.host, scope.partner, scope.api)
}

fn payload(scope: &Scope, kind: CheckType, row: &Outcome) -> String {
    let full = json!({"s": scope_tag(scope), "kind": kind.as_str(), "key": row.checked_key,
        "a": answer_json(row)})
    .to_string();
    if full.len() <= PAYLOAD_MAX {
        return full;
    }
    json!({"s": scope_tag(scope), "kind": kind.as_str(), "key": row.checked_key}).to_string()
}

/// A row in the answers table's column names (as `to_jsonb` gives it back).
pub fn answer_json(o: &Outcome) -> Value {
    json!({
        "key": o.checked_key, "result": o.result.as_str(), "status": o.answer_columns()[0],
        "uplimit": o.answer_columns()[1], "error_code": o.error_code, "error_msg": o.error_msg,
        "http_status": o.http_status, "request_id": o.request_id,
        "checked_at": o.checked_at.unwrap_or_else(Utc::now).timestamp(),
        "prev_result": o.previous.map(|p| p.0.as_str()),
        "prev_checked_at": o.previous.map(|p| p.1.timestamp()),
        "change_unreported": o.change,
    })
}

/// A row of the answers table read back from JSON (`source=cache`).
pub fn answer_from(v: &Value) -> Option<Outcome> {
    let text = |k: &str| v[k].as_str().map(String::from);
    let ts = |k: &str| v[k].as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single());
    let result = ResultKind::parse(v["result"].as_str()?)?;
    let mut o = Outcome::new(text("key")?, result, Source::Cache);
    o.answer = Answer::from_columns(v["status"].as_str(), v["uplimit"].as_str());
    o.error_code = text("error_code");
    o.error_msg = text("error_msg");
    o.http_status = v["http_status"]
        .as_u64()
        .and_then(|h| u16::try_from(h).ok());
    o.request_id = text("request_id");
    o.checked_at = ts("checked_at");
    o.previous = v["prev_result"]
        .as_str()
        .and_then(ResultKind::parse)
        .zip(ts("prev_checked_at"));
    o.change = v["change_unreported"].as_bool().unwrap_or(false);
    Some(o)
}

/// A notification for this scope: the key, and the answer if the payload holds it.
pub fn heard(scope_tag: &str, payload: &str) -> Option<(CheckType, String, Option<Outcome>)> {
    let v: Value = serde_json::from_str(payload).ok()?;
    if v["s"].as_str()? != scope_tag {
        return None;
    }
    let kind = v["kind"].as_str()?.parse().ok()?;
    let key = v["key"].as_str()?.to_string();
    Some((kind, key, answer_from(&v["a"])))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| anyhow!("the database's answer is not understood: {e}"))
}

/// Reads the statement's one row.
pub fn reply(row: &tokio_postgres::Row) -> Result<Reply> {
    let kind = |v: &Value| v["kind"].as_str().and_then(|k| k.parse::<CheckType>().ok());
    let granted: Vec<Value> = parse(row.try_get(2)?)?;
    let refused: Vec<Value> = parse(row.try_get(3)?)?;
    Ok(Reply {
        renewed: parse(row.try_get(0)?)?,
        recorded: parse(row.try_get(1)?)?,
        granted: granted
            .iter()
            .filter_map(|g| {
                Some((
                    kind(g)?,
                    g["key"].as_str()?.to_string(),
                    g["token"].as_i64()?,
                    answer_from(&g["before"]),
                ))
            })
            .collect(),
        refused: refused
            .iter()
            .filter_map(|r| {
                let answered = r["answered"].as_bool().unwrap_or(false);
                Some((
                    kind(r)?,
                    r["key"].as_str()?.to_string(),
                    answered.then(|| answer_from(&r["answer"])).flatten(),
                    r["expires_in"].as_f64().unwrap_or(0.0),
                ))
            })
            .collect(),
        ahead: row.try_get(4)?,
        gap: row.try_get::<_, Option<f64>>(5)?.unwrap_or(0.2),
        slots: row.try_get::<_, Option<i64>>(6)?.unwrap_or(0),
        deferred: parse(row.try_get(9)?)?,
        bucket: row.try_get::<_, Option<f64>>(10)?.unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_answer_reads_back_as_it_was_recorded() {
        let scope = Scope {
            host: "h".into(),
            partner: "p".into(),
            api: "v1".into(),
        };
        let mut o = Outcome::new("a@x.yz", ResultKind::Taken, Source::Api);
        o.checked_at = Utc.timestamp_opt(1_700_000_000, 0).single();
        o.previous = Some((
            ResultKind::Free,
            Utc.timestamp_opt(1_600_000_000, 0).unwrap(),
        ));
        o.change = true;
        o.request_id = Some("r-1".into());
        let text = payload(&scope, CheckType::Email, &o);
        let (kind, key, back) = heard(&scope_tag(&scope), &text).unwrap();
        assert_eq!((kind, key.as_str()), (CheckType::Email, "a@x.yz"));
        let back = back.unwrap();
        assert_eq!(back.result, ResultKind::Taken);
        assert_eq!(back.previous, o.previous);
        assert_eq!(back.checked_at, o.checked_at);
        assert_eq!(back.source, Source::Cache);
        let other = Scope {
            partner: "q".into(),
            ..scope
        };
        assert!(heard(&scope_tag(&other), &text).is_none(), "another scope");
        o.error_msg = Some("x".repeat(9000));
        let big = payload(&other, CheckType::Email, &o);
        assert!(big.len() < 8000);
        assert!(heard(&scope_tag(&other), &big).unwrap().2.is_none());
    }
}
