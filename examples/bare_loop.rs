//! The floor for `scripts/bench.sh overhead`: signs and sends the same v1 check-user requests
//! checkuser sends (same path, body bytes, headers and signer, `checkuser::api::sign`) with
//! reqwest and nothing else: no input file, store, pacing, retries, classification or output.
//! 32 requests (or CONCURRENCY) are in flight at once; every answer is read to the end, and the
//! statuses are counted and printed, since a loop whose requests are refused measures nothing.
//! Exits 1 unless every answer was HTTP 200.
//!
//! usage: bare_loop ENDPOINT PARTNER_ID N [CONCURRENCY]
//!        (AK and SK from $HUAWEICLOUD_SDK_AK and $HUAWEICLOUD_SDK_SK, as checkuser reads them)
//!
//! Keys are `bench{i}@example{i % 100}.com`, the ones bench.sh's `emails_csv` writes.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use checkuser::api::{client::authority, sign, v1};
use checkuser::model::CheckType;
use futures::stream::{self, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, partner, n, rest @ ..] = args.as_slice() else {
        bail!("usage: bare_loop ENDPOINT PARTNER_ID N [CONCURRENCY]");
    };
    let n: usize = n.parse().context("N")?;
    let concurrency: usize = rest
        .first()
        .map_or(Ok(32), |c| c.parse())
        .context("CONCURRENCY")?;
    let ak = std::env::var("HUAWEICLOUD_SDK_AK").context("$HUAWEICLOUD_SDK_AK")?;
    let sk = std::env::var("HUAWEICLOUD_SDK_SK").context("$HUAWEICLOUD_SDK_SK")?;

    let path = v1::path(partner);
    let url = reqwest::Url::parse(&format!("{}{path}", endpoint.trim_end_matches('/')))
        .context("ENDPOINT")?;
    let host = authority(&url);
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let one = |i: usize| {
        let key = format!("bench{i}@example{}.com", i % 100);
        let body = v1::body(CheckType::Email, &key);
        let date = sign::sdk_date(chrono::Utc::now());
        let signed = sign::sign(
            sk.as_bytes(),
            &date,
            &sign::Request {
                method: "POST",
                path: &path,
                query: &[],
                headers: &[
                    ("Content-Type", "application/json"),
                    ("Host", &host),
                    ("X-Sdk-Date", &date),
                ],
                body: &body,
            },
        );
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(HOST, HeaderValue::from_str(&host).expect("a URL's host"));
        headers.insert("x-sdk-date", HeaderValue::from_str(&date).expect("ASCII"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&signed.authorization(&ak)).expect("ASCII"),
        );
        let req = http.post(url.clone()).headers(headers).body(body);
        async move {
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(_) => status.to_string(),
                        Err(_) => "body cut".to_string(),
                    }
                }
                Err(_) => "no answer".to_string(),
            }
        }
    };

    let start = Instant::now();
    let mut answers = BTreeMap::<String, usize>::new();
    let mut results = stream::iter(0..n).map(one).buffer_unordered(concurrency);
    while let Some(what) = results.next().await {
        *answers.entry(what).or_default() += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let ok = answers.get("200").copied().unwrap_or(0);
    let all: Vec<String> = answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!(
        "bare loop: {n} requests, {concurrency} in flight, {ok} answered 200 ({}), {wall:.2}s wall, {:.0} requests/s",
        all.join(", "),
        n as f64 / wall
    );
    if ok != n {
        bail!("{} of {n} requests were not answered 200", n - ok);
    }
    Ok(())
}
