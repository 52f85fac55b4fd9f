//! One resolution of the target: where requests go (the simulator or an endpoint), who sends
//! them (credentials), for which account (the partner id), through which proxy, trusting which
//! certificates, and where answers are kept (the state store). `run`, `plan` and `doctor` all
//! call [`resolve`]; each part is resolved once and kept with the reason it could not be, so
//! that `run` refuses at the first missing part, `plan` asks only for what keys the store, and
//! `doctor` reports every part on a line of its own.

use std::path::Path;

use anyhow::{anyhow, Result};

use crate::api::credentials::{self, Credentials};
use crate::api::proxy::Choice;
use crate::api::ApiVersion;
use crate::cli::SendArgs;
use crate::sandbox::{Faults, Identity};
use crate::store::{Location, Scope};

/// What the flags and the environment say about the target, each part resolved or not.
pub struct Resolution {
    pub api: ApiVersion,
    /// The simulator (`--sandbox`) or an endpoint.
    pub target: Resolved,
    /// `--ca-cert`: extra trusted roots (read with the simulator too: a bad file is a bad
    /// flag wherever the requests go).
    pub ca_certs: Result<Vec<reqwest::Certificate>>,
    /// `--state`, else the default store (the simulator's own with `--sandbox`).
    pub state: Result<Location>,
}

/// Where requests go, as far as it could be resolved.
pub enum Resolved {
    /// The built-in simulator, started in-process with these faults: its own credentials,
    /// account and address, never through a proxy.
    Sandbox(Faults),
    Remote(Remote),
}

/// An endpoint's parts, each with why it could not be resolved.
pub struct Remote {
    /// `--endpoint`, refused when not http(s), or plain http elsewhere without
    /// `--insecure-http`.
    pub endpoint: Result<reqwest::Url>,
    /// Ready to send: found, and every value fit for an HTTP header.
    pub credentials: Result<Credentials>,
    /// `--partner-id`, else the credentials' domain id, checked.
    pub account: Result<String>,
    /// The proxy for the endpoint, if any (none for one on this machine).
    pub proxy: Result<Option<Choice>>,
}

/// Resolves the target of `run`, `plan` and `doctor` from their shared flags. `env` reads the
/// environment and `home` is the user's home folder (both injected for tests). Only a bad
/// `--sandbox` fault flag is an error here; every other part keeps its own.
pub fn resolve(
    a: &SendArgs,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Resolution> {
    let t = &a.target;
    let target = match t.sandbox {
        true => Resolved::Sandbox(super::faults(&a.faults)?),
        false => Resolved::Remote(remote(a, env, home)),
    };
    Ok(Resolution {
        api: t.api,
        target,
        ca_certs: super::ca_certs(t.ca_cert.as_deref()),
        state: state(a.state.as_deref(), t.sandbox),
    })
}

fn remote(a: &SendArgs, env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Remote {
    let t = &a.target;
    let endpoint = super::remote_endpoint(t);
    let (credentials, domain) = credentials::found(t.token_file.as_deref(), env, home);
    let partner = credentials::partner_id(t.partner_id.as_deref(), None).or(domain);
    let proxy = match &endpoint {
        Ok(url) => crate::api::proxy::choose(url, env, t.insecure_http),
        Err(_) => Err(anyhow!("not chosen: the endpoint is not usable")),
    };
    Remote {
        endpoint,
        credentials,
        account: credentials::account(partner, t.api),
        proxy,
    }
}

fn state(given: Option<&Path>, sandbox: bool) -> Result<Location> {
    match given {
        Some(s) => Location::parse(s.as_os_str()),
        None => super::state_path(None, sandbox)
            .map(Location::File)
            .ok_or_else(|| {
                anyhow!("cannot find a place for the state store: set HOME or pass --state PATH")
            }),
    }
}

impl Resolution {
    /// Where answers are keyed: the simulator's fixed name, or the endpoint's host and the
    /// account. Needs no credentials.
    pub fn scope(&self) -> Result<Scope> {
        match &self.target {
            Resolved::Sandbox(_) => Ok(sandbox_scope(self.api)),
            Resolved::Remote(r) => {
                let endpoint = r.endpoint.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                let account = r.account.as_ref().map_err(|e| anyhow!("{e:#}"))?;
                Scope::for_endpoint(endpoint, account, self.api)
            }
        }
    }

    /// Whether requests go to the built-in simulator.
    pub fn simulated(&self) -> bool {
        matches!(self.target, Resolved::Sandbox(_))
    }
}

/// The simulator's port changes every run, so its answers are keyed by a fixed name.
pub fn sandbox_scope(api: ApiVersion) -> Scope {
    Scope::sandbox(&Identity::builtin().partner_id, api)
}

/// Where a run sends its requests: everything it needs, always (there is no run without
/// credentials, so no run can find them missing).
pub enum Target {
    /// The built-in simulator, started in-process with these faults.
    Sandbox(Faults),
    /// The real API (or any endpoint the user names).
    Remote(Sending),
}

/// A remote endpoint with all it takes to send to it.
pub struct Sending {
    pub endpoint: reqwest::Url,
    pub credentials: Credentials,
    pub partner_id: String,
    /// The proxy requests go through (`None`: direct).
    pub proxy: Option<Choice>,
    /// `--ca-cert`: extra trusted roots.
    pub ca_certs: Vec<reqwest::Certificate>,
}

impl Target {
    /// The target of a run: every part must be there, the first one missing is the error.
    pub fn for_run(
        resolved: Resolved,
        ca_certs: Result<Vec<reqwest::Certificate>>,
    ) -> Result<Target> {
        let r = match resolved {
            Resolved::Sandbox(f) => return ca_certs.map(|_| Target::Sandbox(f)),
            Resolved::Remote(r) => r,
        };
        // In the order a person fixes them: where, through what, who, for whom.
        let endpoint = r.endpoint?;
        let proxy = r.proxy?;
        let credentials = r.credentials?;
        let partner_id = r.account?;
        Ok(Target::Remote(Sending {
            endpoint,
            credentials,
            partner_id,
            proxy,
            ca_certs: ca_certs?,
        }))
    }

    /// Where the run's answers are keyed (as [`Resolution::scope`] says, from the same parts).
    pub fn scope(&self, api: ApiVersion) -> Result<Scope> {
        match self {
            Target::Sandbox(_) => Ok(sandbox_scope(api)),
            Target::Remote(r) => Scope::for_endpoint(&r.endpoint, &r.partner_id, api),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn send_args(extra: &[&str]) -> SendArgs {
        let mut args = vec!["checkuser", "run", "x.csv", "--state", "/nowhere/s.sqlite"];
        args.extend(extra);
        match crate::cli::Cli::try_parse_from(args).unwrap().command {
            crate::cli::Command::Run(r) => r.send,
            _ => unreachable!(),
        }
    }

    fn resolved(extra: &[&str], vars: &[(&str, &str)]) -> Resolution {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        resolve(&send_args(extra), &env, None).unwrap()
    }

    const AKSK: [(&str, &str); 2] = [
        ("HUAWEICLOUD_SDK_AK", "HPUAEXAMPLEAK0001"),
        ("HUAWEICLOUD_SDK_SK", "example-secret-key"),
    ];

    #[test]
    fn without_credentials_the_store_is_keyed_but_no_run_can_be_made() {
        let r = resolved(&["--partner-id", "p1"], &[]);
        let scope = r.scope().unwrap();
        assert_eq!(
            (scope.host.as_str(), scope.partner.as_str()),
            ("bss-intl.myhuaweicloud.com", "p1")
        );
        let Err(e) = Target::for_run(r.target, r.ca_certs) else {
            panic!("a run without credentials")
        };
        assert!(format!("{e:#}").contains("no credentials found"), "{e:#}");
    }

    #[test]
    fn the_account_is_found_the_same_way_with_or_without_credentials() {
        let domain = ("HUAWEICLOUD_SDK_DOMAIN_ID", "dom-1");
        let plan = resolved(&[], &[domain]);
        let run = resolved(&[], &[AKSK[0], AKSK[1], domain]);
        assert_eq!(plan.scope().unwrap(), run.scope().unwrap());
        let Ok(Target::Remote(sending)) = Target::for_run(run.target, run.ca_certs) else {
            panic!("a run with credentials")
        };
        assert_eq!(sending.partner_id, "dom-1");
        assert!(resolved(&[], &[]).scope().is_err(), "v1 needs an account");
    }

    #[test]
    fn each_part_keeps_its_own_reason() {
        let r = resolved(&["--endpoint", "ftp://x"], &AKSK);
        let Resolved::Remote(remote) = &r.target else {
            panic!("not remote")
        };
        assert!(remote.credentials.is_ok() && remote.account.is_err());
        assert!(format!("{:#}", remote.endpoint.as_ref().unwrap_err()).contains("--endpoint"));
        assert!(r.state.is_ok());
    }

    #[test]
    fn the_simulator_needs_nothing_from_the_environment() {
        let r = resolved(&["--sandbox", "--throttle", "0"], &[]);
        assert_eq!(r.scope().unwrap(), sandbox_scope(ApiVersion::V1));
        assert!(r.simulated());
        assert!(matches!(
            Target::for_run(r.target, r.ca_certs),
            Ok(Target::Sandbox(_))
        ));
    }
}
