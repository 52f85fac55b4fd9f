//! Which proxy requests to the endpoint go through, decided once per endpoint: the environment
//! as curl reads it (`https_proxy`/`HTTPS_PROXY` for an https endpoint, `http_proxy`/
//! `HTTP_PROXY` for http, else `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` by curl's
//! rules), with two rules of our own: an endpoint on this machine never goes through a proxy
//! (the simulator and local test servers are reached directly, whatever `NO_PROXY` says), and
//! a proxy that would read the credentials and the leads in clear (a plain-http endpoint) is
//! refused unless `--insecure-http`.

use anyhow::{bail, Result};

/// The proxy chosen for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The proxy, possibly with a user and password for it.
    pub url: reqwest::Url,
    /// The variable it came from, for messages.
    pub from: &'static str,
}

impl Choice {
    /// The proxy without its user and password, to show.
    pub fn shown(&self) -> String {
        let host = self.url.host_str().unwrap_or("");
        match self.url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", self.url.scheme()),
            None => format!("{}://{host}", self.url.scheme()),
        }
    }
}

/// True for an endpoint on this machine: `localhost` (a trailing dot too), 127.0.0.0/8, `::1`.
pub fn is_loopback(u: &reqwest::Url) -> bool {
    let host = u.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.strip_suffix('.')
        .unwrap_or(host)
        .eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The proxy for `endpoint`, if any; `var` reads the environment. An error when the proxy
/// named cannot be used, or would see the requests in clear without `insecure_http`.
pub fn choose(
    endpoint: &reqwest::Url,
    var: &dyn Fn(&str) -> Option<String>,
    insecure_http: bool,
) -> Result<Option<Choice>> {
    let first = |names: &[&'static str]| {
        names.iter().find_map(|n| {
            var(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(|v| (*n, v))
        })
    };
    let Some(host) = endpoint.host_str() else {
        return Ok(None);
    };
    if is_loopback(endpoint) {
        return Ok(None);
    }
    if let Some((name, list)) = first(&["no_proxy", "NO_PROXY"]) {
        for entry in ported_entries(&list) {
            tracing::warn!(
                "{name} entry '{entry}' has a port: as in curl, entries name hosts only, so it \
                 matches nothing (write the host alone)"
            );
        }
        if no_proxy_matches(&list, host) {
            return Ok(None);
        }
    }
    let scheme_vars: &[&'static str] = match endpoint.scheme() {
        "https" => &["https_proxy", "HTTPS_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY"],
    };
    let Some((from, raw)) = first(scheme_vars).or_else(|| first(&["all_proxy", "ALL_PROXY"]))
    else {
        return Ok(None);
    };
    // As curl: a proxy named without a scheme is an http one.
    let with_scheme = match raw.contains("://") {
        true => raw.clone(),
        false => format!("http://{raw}"),
    };
    let url = match reqwest::Url::parse(&with_scheme) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => u,
        _ => bail!("{from} is not a proxy URL like http://proxy.example:3128"),
    };
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "{from} names a {} proxy: only http:// and https:// proxies are supported (or \
             add {host} to NO_PROXY)",
            url.scheme()
        );
    }
    let choice = Choice { url, from };
    if endpoint.scheme() == "http" && !insecure_http {
        bail!(
            "the plain-http endpoint {endpoint} would go through the proxy {} (from {from}), \
             which would read the credentials and the leads: use https, add {host} to \
             NO_PROXY, or pass --insecure-http if you really mean it",
            choice.shown()
        );
    }
    Ok(Some(choice))
}

/// Entries of a `NO_PROXY` list that carry a port (`host:8443`): curl never matches those.
fn ported_entries(list: &str) -> Vec<String> {
    tokens(list)
        .filter(|t| {
            let t = t.trim_start_matches('[');
            t.parse::<std::net::Ipv6Addr>().is_err()
                && t.split('/')
                    .next()
                    .unwrap_or(t)
                    .parse::<std::net::Ipv6Addr>()
                    .is_err()
                && t.rsplit_once(':')
                    .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(String::from)
        .collect()
}

/// The entries of a `NO_PROXY` list as curl reads them: separated by commas, blanks around
/// them ignored; a blank inside an entry ends the list.
fn tokens(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = list;
    let mut done = false;
    std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let end = trimmed.find([' ', '\t', ',']).unwrap_or(trimmed.len());
        let (token, after) = trimmed.split_at(end);
        let after = after.trim_start_matches([' ', '\t']);
        match after.strip_prefix(',') {
            Some(more) => rest = more.trim_start_matches(','),
            None => done = true,
        }
        if !token.is_empty() {
            return Some(token);
        }
    })
}

/// Whether `NO_PROXY` (`list`) exempts `host`, by curl's rules: `*` alone exempts every host;
/// a name matches itself and its subdomains, case-insensitively, leading and trailing dots
/// ignored (`example.com` and `.example.com` both match `api.example.com`, never
/// `notexample.com`); an IP address matches only IP entries, which may be CIDR ranges
/// (`10.0.0.0/8`), so `127.0.0.1` does not cover `localhost`; entries with a port match
/// nothing.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = bare.parse::<std::net::IpAddr>().ok();
    let name = host.strip_suffix('.').unwrap_or(host);
    tokens(list).any(|token| match ip {
        Some(ip) => ip_matches(ip, token),
        None => {
            let t = token.strip_suffix('.').unwrap_or(token);
            let t = t.strip_prefix('.').unwrap_or(t);
            let at = name.len().wrapping_sub(t.len());
            let tail = || {
                name.len() > t.len()
                    && name.is_char_boundary(at)
                    && name[at..].eq_ignore_ascii_case(t)
                    && name.as_bytes()[at - 1] == b'.'
            };
            !t.is_empty() && (name.eq_ignore_ascii_case(t) || tail())
        }
    })
}

/// An IP host against one entry: an address, or an address with `/bits` (curl reads `/0` as
/// the address alone).
fn ip_matches(ip: std::net::IpAddr, token: &str) -> bool {
    use std::net::IpAddr;
    let (addr, bits) = match token.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, bits),
            Err(_) => return false,
        },
        None => (token, 0),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = if bits == 0 { 32 } else { bits };
            bits <= 32 && prefix_eq(&ip.octets(), &net.octets(), bits)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = if bits == 0 { 128 } else { bits };
            bits <= 128 && prefix_eq(&ip.octets(), &net.octets(), bits)
        }
        _ => false,
    }
}

/// The first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let (whole, rest) = ((bits / 8) as usize, bits % 8);
    a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) & (0xFFu8 << (8 - rest)) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn no_proxy_follows_curl() {
        let yes = [
            ("example.com", "example.com"),
            ("example.com", "api.example.com"),
            (".example.com", "example.com"),
            (".example.com", "a.b.example.com"),
            ("EXAMPLE.com.", "api.Example.COM"),
            ("example.com", "api.example.com."),
            ("*", "anything.example"),
            (" a.test , example.com ", "example.com"),
            ("a.test,,example.com", "example.com"),
            ("10.0.0.0/8", "10.1.2.3"),
            ("192.168.1.7", "192.168.1.7"),
            ("192.168.1.7/0", "192.168.1.7"),
            ("::1", "[::1]"),
            ("fd00::/8", "[fd12::1]"),
        ];
        for (list, host) in yes {
            assert!(
                no_proxy_matches(list, host),
                "{list:?} should exempt {host}"
            );
        }
        let no = [
            ("example.com", "notexample.com"),
            ("example.com", "example.com.evil"),
            ("127.0.0.1", "localhost"),
            ("localhost", "127.0.0.1"),
            ("example.com:443", "example.com"),
            ("10.0.0.1:8080", "10.0.0.1"),
            ("*,example.com", "other.test"),
            ("*.example.com", "api.example.com"),
            ("a.test example.com", "example.com"),
            ("192.168.1.7/0", "192.168.1.8"),
            ("10.0.0.0/8", "11.0.0.1"),
            ("", "example.com"),
        ];
        for (list, host) in no {
            assert!(
                !no_proxy_matches(list, host),
                "{list:?} should not exempt {host}"
            );
        }
        assert_eq!(
            ported_entries("a.test:8443, 10.0.0.1:80, ::1, fd00::/8, plain"),
            ["a.test:8443", "10.0.0.1:80"]
        );
    }

    #[test]
    fn loopback_endpoints_go_direct_whatever_the_environment() {
        let all = env(&[
            ("HTTP_PROXY", "http://proxy.test:3128"),
            ("HTTPS_PROXY", "http://proxy.test:3128"),
            ("ALL_PROXY", "socks5://proxy.test:1080"),
        ]);
        for e in [
            "http://localhost:8080",
            "http://LocalHost.:8080",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "https://[::1]:8443",
        ] {
            assert_eq!(choose(&url(e), &all, false).unwrap(), None, "{e}");
        }
        assert!(!is_loopback(&url("http://localhost.example.com")));
        assert!(!is_loopback(&url("http://[::ffff:10.0.0.1]")));
    }

    #[test]
    fn the_scheme_picks_the_variable_lower_case_first_then_all_proxy() {
        let vars = env(&[
            ("https_proxy", "proxy.test:3128"),
            ("HTTPS_PROXY", "http://upper.test:1"),
            ("ALL_PROXY", "http://all.test:2"),
        ]);
        let c = choose(&url("https://bss.example.com"), &vars, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.shown().as_str(), c.from),
            ("http://proxy.test:3128", "https_proxy")
        );
        let c = choose(&url("http://10.0.0.5"), &vars, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.shown().as_str(), c.from),
            ("http://all.test:2", "ALL_PROXY")
        );
        let none = choose(
            &url("https://bss.example.com"),
            &env(&[
                ("HTTPS_PROXY", "http://p.test:1"),
                ("NO_PROXY", ".example.com"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(none, None);
        let secret = env(&[("HTTPS_PROXY", "http://user:pa55@p.test:8080")]);
        let c = choose(&url("https://bss.example.com"), &secret, false)
            .unwrap()
            .unwrap();
        assert_eq!(c.shown(), "http://p.test:8080", "no password shown");
    }

    #[test]
    fn a_proxy_that_would_read_the_requests_needs_insecure_http() {
        let vars = env(&[("HTTP_PROXY", "http://proxy.test:3128")]);
        let e = choose(&url("http://10.0.0.5:8080"), &vars, false).unwrap_err();
        assert!(e.to_string().contains("--insecure-http"), "{e}");
        assert!(choose(&url("http://10.0.0.5:8080"), &vars, true)
            .unwrap()
            .is_some());
        let socks = env(&[("ALL_PROXY", "socks5h://proxy.test:1080")]);
        let e = choose(&url("https://bss.example.com"), &socks, false).unwrap_err();
        assert!(e.to_string().contains("ALL_PROXY"), "{e}");
    }
}
