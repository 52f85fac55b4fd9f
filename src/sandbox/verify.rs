//! The simulator's own check of SDK-HMAC-SHA256 signatures. It is written independently of the
//! client's signer (`api::sign`) on purpose: it rebuilds the canonical request from what
//! actually arrived on the wire, so a client that sends bytes or headers other than those it
//! signed is caught.

use axum::http::{HeaderMap, Method, Uri};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Why a signature was refused (the gateway says only "verify aksk signature fail").
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed(&'static str),
    UnknownAk,
    Skewed,
    BadSignature,
}

/// The fields of an `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
struct AuthHeader<'a> {
    access: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_auth(value: &str) -> Option<AuthHeader<'_>> {
    let rest = value.strip_prefix("SDK-HMAC-SHA256 ")?;
    let mut access = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(", ") {
        let (k, v) = part.split_once('=')?;
        match k.trim() {
            "Access" => access = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    Some(AuthHeader {
        access: access?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// RFC 3986 escaping, byte by byte.
fn escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if let (b'%', Some(Ok(v))) = (bytes[i], hex.map(|h| u8::from_str_radix(h, 16))) {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn canonical(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: &str,
    body: &[u8],
) -> Option<String> {
    let mut path: String = uri
        .path()
        .split('/')
        .map(|seg| escape(&unescape(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !path.ends_with('/') {
        path.push('/');
    }
    let mut params: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (escape(&unescape(k)), escape(&unescape(v)))
        })
        .collect();
    params.sort();
    let query: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut block = String::new();
    for name in signed.split(';') {
        let value = headers.get(name)?.to_str().ok()?;
        block.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let payload = match headers
        .get("x-sdk-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => v.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    Some(format!(
        "{}\n{path}\n{}\n{block}\n{signed}\n{payload}",
        method.as_str(),
        query.join("&")
    ))
}

/// Checks a signed request. `secret_for` maps an AK to its SK.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: chrono::DateTime<Utc>,
    secret_for: impl Fn(&str) -> Option<String>,
) -> Result<String, Refusal> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_auth)
        .ok_or(Refusal::Malformed(
            "no SDK-HMAC-SHA256 Authorization header",
        ))?;
    let date = headers
        .get("x-sdk-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal::Malformed("no X-Sdk-Date"))?;
    if !auth.signed_headers.split(';').any(|h| h == "x-sdk-date") {
        return Err(Refusal::Malformed("X-Sdk-Date is not signed"));
    }
    let when = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| Refusal::Malformed("bad X-Sdk-Date"))?
        .and_utc();
    if (now - when).abs() > TimeDelta::from_std(crate::api::sign::CLOCK_WINDOW).unwrap_or_default()
    {
        return Err(Refusal::Skewed);
    }
    let sk = secret_for(auth.access).ok_or(Refusal::UnknownAk)?;
    let creq = canonical(method, uri, headers, auth.signed_headers, body)
        .ok_or(Refusal::Malformed("a signed header is missing"))?;
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{date}\n{}",
        hex::encode(Sha256::digest(creq.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    let given = hex::decode(auth.signature).map_err(|_| Refusal::BadSignature)?;
    mac.verify_slice(&given)
        .map_err(|_| Refusal::BadSignature)?;
    Ok(auth.access.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official signer's first test vector, checked by the simulator's own code.
    #[test]
    fn accepts_the_official_vector_and_rejects_a_changed_body() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("host", "bss-intl.myhuaweicloud.com".parse().unwrap());
        let uri: Uri = "/v1.0/0a1b2c3d4e5f40718293a4b5c6d7e8f9/partner/customer-mgr/check-user"
            .parse()
            .unwrap();
        let body = br#"{"searchType":"email","searchKey":"alice@example.com"}"#;
        let creq = canonical(
            &Method::POST,
            &uri,
            &{
                let mut h = headers.clone();
                h.insert("x-sdk-date", "20240115T083000Z".parse().unwrap());
                h
            },
            "content-type;host;x-sdk-date",
            body,
        )
        .unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(creq.as_bytes())),
            "36b5e018caaeb91dc5dfde1196a5f055756fcbd93d70b68607e7f62e4841c28b"
        );
        // A fresh date so the skew check passes; sign with the client's signer, verify here.
        let date = crate::api::sign::sdk_date(Utc::now());
        headers.insert("x-sdk-date", date.parse().unwrap());
        let pairs = [
            ("Content-Type", "application/json"),
            ("Host", "bss-intl.myhuaweicloud.com"),
            ("X-Sdk-Date", date.as_str()),
        ];
        let sig = crate::api::sign::sign(
            b"sk1",
            &date,
            &crate::api::sign::Request {
                method: "POST",
                path: uri.path(),
                query: &[],
                headers: &pairs,
                body,
            },
        );
        headers.insert("authorization", sig.authorization("AK1").parse().unwrap());
        let secret = |ak: &str| (ak == "AK1").then(|| "sk1".to_string());
        assert_eq!(
            verify(&Method::POST, &uri, &headers, body, Utc::now(), secret),
            Ok("AK1".into())
        );
        assert_eq!(
            verify(&Method::POST, &uri, &headers, b"{}", Utc::now(), secret),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(&Method::POST, &uri, &headers, body, Utc::now(), |_| None),
            Err(Refusal::UnknownAk)
        );
        headers.insert("x-sdk-date", "20200101T000000Z".parse().unwrap());
        assert_eq!(
            verify(&Method::POST, &uri, &headers, body, Utc::now(), secret),
            Err(Refusal::Skewed)
        );
    }
}
