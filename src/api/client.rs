//! One HTTP exchange with the partner API: build the body, sign it afresh (new `X-Sdk-Date`),
//! send exactly the signed bytes and headers, and read back the status, body and the headers
//! that matter, at most 64 KiB of body, with echoed secrets redacted. Retrying is
//! `run::attempt`'s business, not this module's.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use secrecy::ExposeSecret;

use super::backoff::parse_retry_after;
use super::classify::{classify, Class, Problem, Reply, MAX_BODY};
use super::credentials::{Auth, Credentials};
use super::sign;
use crate::api::ApiVersion;
use crate::model::CheckType;

/// What the client needs to know.
pub struct ClientConfig {
    pub endpoint: reqwest::Url,
    pub api: ApiVersion,
    /// Needed for v1 (it is part of the path).
    pub partner_id: String,
    pub timeout: Duration,
    pub credentials: Credentials,
    /// Extra trusted roots (`--ca-cert`), beside the platform's store and the webpki roots.
    pub ca_certs: Vec<reqwest::Certificate>,
    /// The proxy requests go through ([`super::proxy::choose`]); `None` is direct.
    pub proxy: Option<super::proxy::Choice>,
}

pub struct Client {
    http: reqwest::Client,
    cfg: ClientConfig,
    url: reqwest::Url,
    path: String,
    host: String,
}

/// The HTTP client every request to an endpoint goes through (`doctor`'s too): the platform's
/// roots and `--ca-cert`, the one proxy chosen for the endpoint (never reqwest's own reading
/// of the environment), no redirects.
pub fn http_client(
    ca_certs: &[reqwest::Certificate],
    timeout: Duration,
    proxy: Option<&super::proxy::Choice>,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    for cert in ca_certs {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder = match proxy {
        Some(p) => builder.proxy(
            reqwest::Proxy::all(p.url.clone())
                .with_context(|| format!("the proxy {} (from {})", p.shown(), p.from))?,
        ),
        None => builder.no_proxy(),
    };
    builder
        .user_agent(concat!("checkuser/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(5))
        // A redirect would carry the credentials and the lead's data elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot set up the HTTP client")
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        super::redact::register(cfg.credentials.secrets());
        let http = http_client(&cfg.ca_certs, cfg.timeout, cfg.proxy.as_ref())?;
        if let Some(p) = &cfg.proxy {
            tracing::info!(
                "requests go through the proxy {} (from {})",
                p.shown(),
                p.from
            );
        }
        let base = cfg.endpoint.as_str().trim_end_matches('/');
        let path = cfg.api.path(&cfg.partner_id);
        let url = reqwest::Url::parse(&format!("{base}{path}")).context("--endpoint")?;
        if url.host_str().is_none() {
            bail!("--endpoint {} has no host", cfg.endpoint);
        }
        let host = authority(&url);
        let path = url.path().to_string();
        Ok(Client {
            http,
            cfg,
            url,
            path,
            host,
        })
    }

    pub fn api(&self) -> ApiVersion {
        self.cfg.api
    }

    /// One request for one check, classified; every text that came from the server has had
    /// the secrets taken out ([`super::redact`]). The reply is `None` when no HTTP answer came
    /// (timeout, connection): that is transient.
    pub async fn check(
        &self,
        kind: CheckType,
        key: &str,
        now: DateTime<Utc>,
    ) -> (Class, Option<Reply>) {
        let body = self.cfg.api.body(kind, key);
        let headers = self.headers(&body, now);
        match self.send(body, headers).await {
            Ok(reply) => (classify(self.cfg.api, &reply), Some(reply)),
            Err(p) => (Class::Transient(p), None),
        }
    }

    /// Sends one request. `Err` is a failure with no HTTP answer (timeout, connection).
    async fn send(&self, body: Vec<u8>, headers: HeaderMap) -> Result<Reply, Problem> {
        let res = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        let mut resp = match res {
            Ok(r) => r,
            Err(e) => return Err(transport_problem(&e)),
        };
        let h = resp.headers();
        let text = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut reply = Reply {
            http_status: resp.status().as_u16(),
            request_id: text("x-request-id").map(|v| super::sanitize(&v)),
            retry_after: text("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now())),
            date: text("date").and_then(|d| httpdate::parse_http_date(&d).ok()),
            location: text("location"),
            ..Reply::default()
        };
        // Read at most MAX_BODY bytes: a server that never stops talking costs nothing.
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_problem(&e))? {
            let room = MAX_BODY - reply.body.len();
            if chunk.len() > room {
                reply.body.extend_from_slice(&chunk[..room]);
                reply.oversized = true;
                break;
            }
            reply.body.extend_from_slice(&chunk);
        }
        // A server may echo what it was sent: no secret goes on into outputs or logs (texts
        // taken from the body are redacted again once decoded, by `sanitize`).
        reply.body = super::redact::bytes(&reply.body);
        Ok(reply)
    }

    /// The headers of one attempt, signed for AK/SK; secret values are marked sensitive.
    fn headers(&self, body: &[u8], now: DateTime<Utc>) -> HeaderMap {
        let date = sign::sdk_date(now);
        let mut plain: Vec<(&str, &str)> = vec![
            ("Content-Type", "application/json"),
            ("Host", &self.host),
            ("X-Sdk-Date", &date),
        ];
        if let Some(d) = &self.cfg.credentials.domain_id {
            plain.push(("X-Domain-Id", d));
        }
        let mut map = HeaderMap::new();
        let mut put = |name: &str, value: &str, sensitive: bool| {
            if let (Ok(n), Ok(mut v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                v.set_sensitive(sensitive);
                map.insert(n, v);
            }
        };
        match &self.cfg.credentials.auth {
            Auth::AkSk {
                ak,
                sk,
                security_token,
            } => {
                let token = security_token.as_ref().map(|t| t.expose_secret());
                let mut signed = plain.clone();
                if let Some(t) = token {
                    signed.push(("X-Security-Token", t));
                }
                let sig = sign::sign(
                    sk.expose_secret().as_bytes(),
                    &date,
                    &sign::Request {
                        method: "POST",
                        path: &self.path,
                        query: &[],
                        headers: &signed,
                        body,
                    },
                );
                if let Some(t) = token {
                    put("X-Security-Token", t, true);
                }
                put(AUTHORIZATION.as_str(), &sig.authorization(ak), true);
            }
            Auth::Token(t) => put("X-Auth-Token", t.expose_secret(), true),
        }
        for (n, v) in plain {
            put(n, v, false);
        }
        debug_assert!(map.contains_key(HOST) && map.contains_key(CONTENT_TYPE));
        map
    }
}

/// The `Host` value: host, and port unless it is the scheme's default.
pub fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn transport_problem(e: &reqwest::Error) -> Problem {
    Problem {
        code: if e.is_timeout() { "TIMEOUT" } else { "NETWORK" }.into(),
        msg: error_chain(e),
    }
}
