//! Raw flags become a validated configuration here, in one place; nothing below this module
//! sees `cli` types. Errors name the flag and say what would be accepted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::{InputArgs, LogArgs, ProgressMode};
use crate::input::reader::DEFAULT_RECORD_CAP;
use crate::input::sniff::encoding_from_label;
use crate::input::{CheckSpec, InputOptions};
use crate::normalize::DefaultCountry;
use crate::output::Format;

/// Everything the reading and writing half of a job needs (shared by `run` and `validate`).
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub input: InputOptions,
    pub specs: Vec<CheckSpec>,
    pub default_country: Option<DefaultCountry>,
    /// `None` writes to standard output.
    pub output: Option<PathBuf>,
    pub format: Format,
    pub bom: bool,
    pub escape_formulas: bool,
    pub summary_json: Option<PathBuf>,
    pub display: Display,
}

/// How the run talks to people.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    pub quiet: bool,
    pub verbose: u8,
    pub progress: ProgressMode,
    pub log_pii: bool,
}

impl From<&LogArgs> for Display {
    fn from(a: &LogArgs) -> Display {
        Display {
            quiet: a.quiet,
            verbose: a.verbose,
            progress: a.progress,
            log_pii: a.log_pii,
        }
    }
}

impl JobConfig {
    pub fn from_args(a: &InputArgs, log: &LogArgs) -> Result<JobConfig> {
        let stdin = a.input.as_os_str() == "-";
        let encoding = match &a.encoding {
            Some(label) => Some(encoding_from_label(label).context("--encoding")?),
            None => None,
        };
        let default_country = match &a.default_country {
            Some(s) => Some(
                s.parse::<DefaultCountry>()
                    .map_err(anyhow::Error::msg)
                    .context("--default-country")?,
            ),
            None => None,
        };
        let named_xlsx = a
            .output
            .as_ref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
        let format = a.format.unwrap_or(if named_xlsx {
            Format::Xlsx
        } else {
            Format::Csv
        });
        let output = match &a.output {
            Some(p) if p.as_os_str() == "-" => None,
            Some(p) => Some(p.clone()),
            None if stdin => None,
            None => Some(default_output(&a.input, format)),
        };
        if output.is_none() && format == Format::Xlsx {
            bail!("a workbook cannot go to standard output: pass -o NAME.xlsx");
        }
        if let Some(out) = &output {
            if !stdin && same_file(out, &a.input) {
                bail!(
                    "-o {} is the input file itself: choose another output path",
                    out.display()
                );
            }
        }
        Ok(JobConfig {
            input: InputOptions {
                path: (!stdin).then(|| a.input.clone()),
                delimiter: a.delimiter,
                encoding,
                record_cap: DEFAULT_RECORD_CAP,
            },
            specs: a.checks.clone(),
            default_country,
            output,
            format,
            bom: a.bom,
            escape_formulas: !a.no_escape_formulas,
            summary_json: a.summary_json.clone(),
            display: log.into(),
        })
    }

    /// How the input is named in messages and the summary.
    pub fn input_label(&self) -> String {
        self.input
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    }

    /// How the output is named in messages and the summary.
    pub fn output_label(&self) -> String {
        self.output
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    }
}

/// `<input stem>.checked.csv` (or `.xlsx`) beside the input.
pub fn default_output(input: &Path, format: Format) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let ext = match format {
        Format::Csv => "csv",
        Format::Xlsx => "xlsx",
    };
    input.with_file_name(format!("{stem}.checked.{ext}"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Where a run sends its requests.
pub enum Target {
    /// The built-in simulator, started in-process with these faults.
    Sandbox(crate::sandbox::Faults),
    /// The real API (or any endpoint the user names).
    Remote {
        endpoint: reqwest::Url,
        credentials: crate::api::credentials::Credentials,
        partner_id: String,
    },
}

/// Everything `run` needs, validated.
pub struct RunConfig {
    pub job: JobConfig,
    pub target: Target,
    pub api: crate::cli::ApiVersion,
    pub rate: f64,
    pub concurrency: usize,
    pub timeout: std::time::Duration,
    pub max_attempts: u32,
    pub backoff_base: std::time::Duration,
    pub state: PathBuf,
    pub reuse: crate::store::Reuse,
    pub wait_lock: bool,
}

impl RunConfig {
    pub fn from_args(a: &crate::cli::RunArgs, log: &LogArgs) -> Result<RunConfig> {
        let job = JobConfig::from_args(&a.input, log)?;
        if !(a.rate.is_finite() && a.rate >= 0.01) {
            bail!(
                "--rate {} must be a number of requests per second of at least 0.01",
                a.rate
            );
        }
        if a.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if a.max_attempts == 0 {
            bail!("--max-attempts must be at least 1");
        }
        if a.timeout.is_zero() {
            bail!("--timeout must be longer than 0s");
        }
        let t = &a.target;
        let target = if t.sandbox {
            Target::Sandbox((&a.faults).into())
        } else {
            let endpoint = reqwest::Url::parse(&t.endpoint)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    anyhow::anyhow!("--endpoint {} is not an http(s) URL", t.endpoint)
                })?;
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let credentials = crate::api::credentials::load(
                t.token_file.as_deref(),
                &|k| std::env::var(k).ok(),
                home.as_deref(),
            )?;
            let partner_id = t
                .partner_id
                .clone()
                .filter(|p| !p.trim().is_empty())
                .or_else(|| credentials.domain_id.clone());
            let partner_id = match (t.api, partner_id) {
                (_, Some(p)) => p.trim().to_string(),
                (crate::cli::ApiVersion::V2, None) => String::new(),
                (crate::cli::ApiVersion::V1, None) => bail!(
                    "--api v1 needs the partner id: pass --partner-id, set \
                     HUAWEICLOUD_PARTNER_ID, or set HUAWEICLOUD_SDK_DOMAIN_ID (the account id \
                     shown under My Credentials)"
                ),
            };
            Target::Remote {
                endpoint,
                credentials,
                partner_id,
            }
        };
        let state = match &a.state {
            Some(p) => p.clone(),
            None => crate::store::default_path().ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot find a place for the state store: set HOME or pass --state PATH"
                )
            })?,
        };
        Ok(RunConfig {
            job,
            target,
            api: t.api,
            rate: a.rate,
            concurrency: a.concurrency,
            timeout: a.timeout,
            max_attempts: a.max_attempts,
            backoff_base: a.backoff_base,
            state,
            reuse: crate::store::Reuse {
                max_age: a.max_age,
                taken_max_age: a.taken_max_age,
                refresh: a.refresh,
            },
            wait_lock: a.wait_lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_sits_beside_the_input() {
        let out = |p: &str, f| default_output(Path::new(p), f);
        assert_eq!(
            out("/d/leads.csv", Format::Csv),
            Path::new("/d/leads.checked.csv")
        );
        assert_eq!(out("leads", Format::Csv), Path::new("leads.checked.csv"));
        assert_eq!(
            out("/d/l.csv", Format::Xlsx),
            Path::new("/d/l.checked.xlsx")
        );
    }
}
