//! Logs go to stderr through `tracing`; emails and mobiles are masked in them unless the user
//! passes `--log-pii`.

use tracing_subscriber::EnvFilter;

use crate::model::CheckType;
use crate::output::Display;

/// Installs the stderr logger for the level the flags ask for (`RUST_LOG` overrides).
pub fn init(d: &Display) {
    let level = match (d.quiet, d.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,checkuser={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .with_target(false)
        .try_init();
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (to anything but empty).
fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// A value as logs may show it: `a***@example.com`, `0086-138****8000`; names are not PII.
pub fn mask(kind: CheckType, key: &str, show: bool) -> String {
    if show {
        return key.to_string();
    }
    match kind {
        CheckType::Email => match key.rsplit_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        CheckType::Mobile => match key.split_once('-') {
            Some((cc, nat)) if nat.len() >= 9 && nat.is_ascii() => {
                format!("{cc}-{}****{}", &nat[..3], &nat[nat.len() - 4..])
            }
            Some((cc, _)) => format!("{cc}-****"),
            None => "****".into(),
        },
        CheckType::Name => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_emails_and_mobiles() {
        assert_eq!(
            mask(CheckType::Email, "alice@example.com", false),
            "a***@example.com"
        );
        assert_eq!(
            mask(CheckType::Mobile, "0086-13800138000", false),
            "0086-138****8000"
        );
        assert_eq!(
            mask(CheckType::Mobile, "0086-13800138000", true),
            "0086-13800138000"
        );
        assert_eq!(
            mask(CheckType::Name, "bob-the-builder", false),
            "bob-the-builder"
        );
        assert!(!mask(CheckType::Mobile, "0086-1234", false).contains("1234"));
    }
}
