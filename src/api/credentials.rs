//! Finding credentials the way Huawei's SDKs do: AK/SK from the environment, else the
//! `[global]` section of the credentials file, or an IAM token. Secrets stay in `secrecy`
//! types and never reach a message; a credentials file others can read is refused, as ssh does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use secrecy::{ExposeSecret, SecretString};

/// How requests prove who sends them.
#[derive(Clone)]
pub enum Auth {
    /// Signed with SDK-HMAC-SHA256. The AK is an identifier, not a secret.
    AkSk {
        ak: String,
        sk: SecretString,
        security_token: Option<SecretString>,
    },
    /// An IAM token sent as `X-Auth-Token`.
    Token(SecretString),
}

/// Credentials and where they were found.
#[derive(Clone)]
pub struct Credentials {
    pub auth: Auth,
    pub domain_id: Option<String>,
    /// Where they came from, for messages (never the values).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.auth {
            Auth::AkSk { ak, .. } => format!("AK/SK (AK {})", mask_ak(ak)),
            Auth::Token(_) => "IAM token".to_string(),
        };
        write!(f, "{kind} from {}", self.source)
    }
}

/// `HPUA…0001`: enough to recognise an AK, not to use it.
pub fn mask_ak(ak: &str) -> String {
    if ak.len() <= 8 || !ak.is_ascii() {
        return "****".into();
    }
    format!("{}…{}", &ak[..4], &ak[ak.len() - 4..])
}

/// Looks the credentials up. `env` reads an environment variable (injected for tests);
/// `home` is the user's home folder.
impl Credentials {
    /// Every secret value with its name for messages: the AK, the SK, a token.
    pub fn named_secrets(&self) -> Vec<(&'static str, &str)> {
        match &self.auth {
            Auth::AkSk {
                ak,
                sk,
                security_token,
            } => {
                let mut v = vec![("the AK", ak.as_str()), ("the SK", sk.expose_secret())];
                v.extend(
                    security_token
                        .as_ref()
                        .map(|t| ("the security token", t.expose_secret())),
                );
                v
            }
            Auth::Token(t) => vec![("the IAM token", t.expose_secret())],
        }
    }

    /// Every secret value, to be kept out of what servers send back.
    pub fn secrets(&self) -> Vec<&[u8]> {
        self.named_secrets()
            .into_iter()
            .map(|(_, v)| v.as_bytes())
            .collect()
    }
}

pub fn load(
    token_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Credentials> {
    sendable(find(token_file, env, home)?)
}

/// The credentials looked up once, for everything a command resolves: ready to send (or why
/// not), and the account they name (their domain id, else `HUAWEICLOUD_SDK_DOMAIN_ID`), known
/// even when they are missing or unusable: `plan` and `doctor` need no secret to know it.
pub fn found(
    token_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> (Result<Credentials>, Option<String>) {
    let found = find(token_file, env, home);
    let domain = found
        .as_ref()
        .ok()
        .and_then(|c| c.domain_id.clone())
        .or_else(|| {
            env("HUAWEICLOUD_SDK_DOMAIN_ID")
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
        });
    (found.and_then(sendable), domain)
}

/// Every credential travels in an HTTP header (the SK in the signature made with it): a line
/// break, a space or a control character pasted with it would make the header impossible to
/// send, or the signature wrong for a gateway that locks the AK after a few. Refused here,
/// without showing the value.
fn sendable(c: Credentials) -> Result<Credentials> {
    let mut values = c.named_secrets();
    values.extend(c.domain_id.as_deref().map(|d| ("the domain id", d)));
    if let Some((what, _)) = values
        .iter()
        .find(|(_, v)| !v.bytes().all(|b| b.is_ascii_graphic()))
    {
        bail!(
            "{what} (read with the credentials from {}) holds a space, a line break, a control \
             or a non-ASCII character, which no HTTP header or signature takes: copy it again \
             (nothing was sent)",
            c.source
        );
    }
    Ok(c)
}

/// A partner id goes into the request path: letters, digits, `-` and `_` only (a `/`, `?` or
/// `..` would send the request, signed, somewhere else).
pub fn check_partner_id(p: &str) -> Result<()> {
    if p.is_empty()
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!(
            "the partner id '{}' may hold only letters, digits, '-' and '_' (it is the account \
             id shown under My Credentials)",
            crate::api::sanitize(p)
        );
    }
    Ok(())
}

fn find(
    token_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Credentials> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let domain_id = var("HUAWEICLOUD_SDK_DOMAIN_ID").map(|d| d.trim().to_string());
    if let Some(path) = token_file {
        let token = read_private(path, "token file")?;
        let token = token.trim();
        if token.is_empty() {
            bail!("the token file {} is empty", path.display());
        }
        return Ok(Credentials {
            auth: Auth::Token(token.into()),
            domain_id,
            source: format!("--token-file {}", path.display()),
        });
    }
    match (var("HUAWEICLOUD_SDK_AK"), var("HUAWEICLOUD_SDK_SK")) {
        (Some(ak), Some(sk)) => {
            return Ok(Credentials {
                auth: Auth::AkSk {
                    ak: ak.trim().to_string(),
                    sk: sk.trim().into(),
                    security_token: var("HUAWEICLOUD_SDK_SECURITY_TOKEN").map(|t| t.trim().into()),
                },
                domain_id,
                source: "environment (HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK)".into(),
            })
        }
        (Some(_), None) | (None, Some(_)) => bail!(
            "only one of HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK is set: set both, or neither"
        ),
        (None, None) => {}
    }
    if let Some(token) = var("HUAWEICLOUD_AUTH_TOKEN") {
        return Ok(Credentials {
            auth: Auth::Token(token.trim().into()),
            domain_id,
            source: "environment (HUAWEICLOUD_AUTH_TOKEN)".into(),
        });
    }
    let explicit = var("HUAWEICLOUD_SDK_CREDENTIALS_FILE").is_some();
    match file_path(&var, home) {
        Some(path) if explicit || path.exists() => from_file(&path, domain_id),
        _ => bail!(
            "no credentials found. Set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK in the \
             environment, or write them to ~/.huaweicloud/credentials:\n\n  [global]\n  ak = \
             <your AK>\n  sk = <your SK>\n\n(chmod 600 it), or provide an IAM token with \
             HUAWEICLOUD_AUTH_TOKEN or --token-file. To try checkuser without an account, add \
             --sandbox."
        ),
    }
}

fn from_file(path: &Path, env_domain: Option<String>) -> Result<Credentials> {
    let text = read_private(path, "credentials file")?;
    let ini = ini::Ini::load_from_str(&text)
        .with_context(|| format!("cannot parse the credentials file {}", path.display()))?;
    let Some(global) = ini.section(Some("global")) else {
        bail!(
            "the credentials file {} has no [global] section (expected ak = … and sk = … under [global])",
            path.display()
        );
    };
    let get = |k: &str| global.get(k).map(str::trim).filter(|v| !v.is_empty());
    let (Some(ak), Some(sk)) = (get("ak"), get("sk")) else {
        bail!(
            "the [global] section of {} needs both ak and sk",
            path.display()
        );
    };
    Ok(Credentials {
        auth: Auth::AkSk {
            ak: ak.to_string(),
            sk: sk.into(),
            security_token: get("security_token").map(Into::into),
        },
        domain_id: env_domain.or_else(|| get("domain_id").map(String::from)),
        source: format!("credentials file {}", path.display()),
    })
}

/// Where the credentials file is: `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else
/// `~/.huaweicloud/credentials` (the official SDKs' convention).
pub fn file_path(var: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Option<PathBuf> {
    var("HUAWEICLOUD_SDK_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".huaweicloud").join("credentials")))
}

/// The partner id: `--partner-id` / `HUAWEICLOUD_PARTNER_ID` if given, else the credentials'
/// domain id.
pub fn partner_id(flag: Option<&str>, c: Option<&Credentials>) -> Option<String> {
    flag.map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .or_else(|| c.and_then(|c| c.domain_id.clone()))
}

/// The account a run works for: the partner id, else the credentials' domain id, checked. Every
/// run needs one, whatever the API version: v1 puts it in the path, and answers of both are
/// kept per account (never per AK: a rotated key must find the same answers and changes).
pub fn account(partner: Option<String>, api: super::ApiVersion) -> Result<String> {
    match partner {
        Some(p) => {
            check_partner_id(&p)?;
            Ok(p)
        }
        None => bail!(
            "{}: pass --partner-id, set HUAWEICLOUD_PARTNER_ID, or set HUAWEICLOUD_SDK_DOMAIN_ID \
             (the \"Account ID\" on the console's My Credentials page)",
            if api.needs_partner_id() {
                "--api v1 needs the partner id (it is part of the request path)"
            } else {
                "answers are kept per partner account, so a rotated AK finds them again, and \
                 no account id is known"
            }
        ),
    }
}

/// The file's mode if only its owner may read it (as ssh requires of keys); an error that
/// says how to fix it otherwise.
pub fn check_private(path: &Path, what: &str) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the {what} {} can be read by other users (mode {mode:04o}); secrets must be \
             private: run  chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    Ok(mode)
}

/// Reads a secret-holding file, refusing one that group or others may read.
fn read_private(path: &Path, what: &str) -> Result<String> {
    check_private(path, what)?;
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn write_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("credentials");
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        p
    }

    #[test]
    fn environment_ak_sk_comes_first() {
        let env = env_of(&[
            ("HUAWEICLOUD_SDK_AK", "AKAKAKAKAKAK"),
            ("HUAWEICLOUD_SDK_SK", "s3cr3t"),
            ("HUAWEICLOUD_SDK_DOMAIN_ID", "dom"),
        ]);
        let c = load(None, &env, None).unwrap();
        let Auth::AkSk { ak, sk, .. } = &c.auth else {
            panic!()
        };
        assert_eq!(
            (ak.as_str(), sk.expose_secret()),
            ("AKAKAKAKAKAK", "s3cr3t")
        );
        assert_eq!(c.domain_id.as_deref(), Some("dom"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn values_no_header_can_carry_are_refused_without_being_shown() {
        for (k, v) in [
            ("HUAWEICLOUD_SDK_AK", "AKAK\nAKAK"),
            ("HUAWEICLOUD_SDK_SK", "s3cr\u{1}et99"),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "tok en-value\n"),
            ("HUAWEICLOUD_SDK_DOMAIN_ID", "dom\nx"),
        ] {
            let mut vars = vec![
                ("HUAWEICLOUD_SDK_AK", "AKAKAKAKAKAK"),
                ("HUAWEICLOUD_SDK_SK", "s3cr3t99"),
            ];
            vars.retain(|(n, _)| *n != k);
            vars.push((k, v));
            let err = format!("{:#}", load(None, &env_of(&vars), None).unwrap_err());
            assert!(
                err.contains("no HTTP header or signature takes"),
                "{k}: {err}"
            );
            assert!(!err.contains(v), "{k}: the value is not shown: {err}");
        }
        let token = env_of(&[("HUAWEICLOUD_AUTH_TOKEN", "MII\r\nabc")]);
        assert!(load(None, &token, None).is_err());
        let padded = env_of(&[
            ("HUAWEICLOUD_SDK_AK", "AKAKAKAKAKAK"),
            ("HUAWEICLOUD_SDK_SK", "s3cr3t99"),
            ("HUAWEICLOUD_SDK_DOMAIN_ID", " dom1 "),
        ]);
        assert_eq!(
            load(None, &padded, None).unwrap().domain_id.as_deref(),
            Some("dom1")
        );
        assert!(check_partner_id("0a1b2c3d_e-F").is_ok());
        for bad in ["p1/../../x", "p?x=1", "p#", "", "p 1"] {
            assert!(check_partner_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_credentials_file_global_section_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_file(
            dir.path(),
            "[global]\nak = FILEAK0000001\nsk = filesecret\ndomain_id = d1\n",
            0o600,
        );
        let env = env_of(&[("HUAWEICLOUD_SDK_CREDENTIALS_FILE", p.to_str().unwrap())]);
        let c = load(None, &env, None).unwrap();
        assert!(matches!(&c.auth, Auth::AkSk { ak, .. } if ak == "FILEAK0000001"));
        assert_eq!(c.domain_id.as_deref(), Some("d1"));
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_file(dir.path(), "[global]\nak = A\nsk = filesecret\n", 0o644);
        let env = env_of(&[("HUAWEICLOUD_SDK_CREDENTIALS_FILE", p.to_str().unwrap())]);
        let err = format!("{:#}", load(None, &env, None).unwrap_err());
        assert!(
            err.contains("chmod 600") && !err.contains("filesecret"),
            "{err}"
        );
    }

    #[test]
    fn tokens_and_missing_credentials() {
        let env = env_of(&[("HUAWEICLOUD_AUTH_TOKEN", "tok")]);
        assert!(matches!(
            load(None, &env, None).unwrap().auth,
            Auth::Token(_)
        ));
        let err = load(None, &env_of(&[]), None).unwrap_err().to_string();
        assert!(err.contains("--sandbox"), "{err}");
        let err = load(None, &env_of(&[("HUAWEICLOUD_SDK_AK", "x")]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one"), "{err}");
    }
}
