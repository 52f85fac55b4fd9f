//! From header and row to checks: per-row-type mode (`searchType`,`searchKey`) or mapped mode
//! (`--check TYPE=COLUMN`), and the output header that goes with it. A marked cell
//! ([`marks`]) is an `invalid` check with its reason; a re-checked output marks the cells its
//! old result columns say a spreadsheet mangled ([`mangled`]).

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::model::{CheckType, Local, ALL_RESULTS, BRIEF_RESULTS, RESULT_COLUMNS};
use crate::normalize::{self, Rules};
use crate::output::escape::unescape;

use super::{mangled, marks};

/// One `--check TYPE=COLUMN` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckType,
    pub column: String,
}

impl FromStr for CheckSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, column) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not TYPE=COLUMN (for example email=\"E-mail\")"))?;
        if column.trim().is_empty() {
            return Err(format!("'{s}' names no column after '='"));
        }
        Ok(CheckSpec {
            kind: kind.parse()?,
            column: column.to_string(),
        })
    }
}

/// Where the checks of a row come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    PerRow { type_col: usize, key_col: usize },
    Mapped(Vec<(CheckType, usize)>),
}

/// The resolved column layout of one input.
#[derive(Debug, Clone)]
pub struct Layout {
    mode: Mode,
    /// The input's header as it is written out (a previous run's result columns dropped).
    pub header: Vec<String>,
    /// Number of header fields: rows are padded to this before the result columns.
    pub width: usize,
    /// When the input is itself a checkuser output: the columns kept (the rest were a
    /// previous run's results), and the number of header fields it had.
    recheck: Option<(Vec<usize>, usize)>,
    /// Result column prefix of each check (empty in per-row mode).
    pub prefixes: Vec<String>,
    rules: Rules,
    /// Whether a re-checked output's cells carry the CSV writer's formula escaping.
    unescape: bool,
    /// For a re-checked output: per check, the column it reads (after projection) and its old
    /// result columns, to keep a value a previous run found mangled `invalid`.
    mangled: Vec<(usize, mangled::OldResult)>,
}

const TYPE_NAMES: [&str; 2] = ["searchtype", "search_type"];
const KEY_NAMES: [&str; 3] = ["searchkey", "search_key", "search_value"];

impl Layout {
    /// Resolves `--check` flags, or finds the per-row columns, against a header.
    pub fn resolve(header: &[String], specs: &[CheckSpec], rules: Rules) -> Result<Layout> {
        let original = header;
        let recheck = previous_results(header).map(|keep| (keep, header.len()));
        let header: Vec<String> = match &recheck {
            Some((keep, _)) => keep.iter().map(|&i| header[i].clone()).collect(),
            None => header.to_vec(),
        };
        let header = header.as_slice();
        let mode = if specs.is_empty() {
            per_row_mode(header)?
        } else {
            let mut cols = Vec::with_capacity(specs.len());
            for spec in specs {
                cols.push((spec.kind, find_column(header, &spec.column)?));
            }
            Mode::Mapped(cols)
        };
        let prefixes = match &mode {
            Mode::PerRow { .. } => vec![String::new()],
            Mode::Mapped(cols) => {
                let mut seen = std::collections::HashMap::new();
                cols.iter()
                    .map(|(kind, _)| {
                        let n = seen.entry(*kind).and_modify(|n| *n += 1).or_insert(1);
                        match *n {
                            1 => format!("{kind}_"),
                            n => format!("{kind}{n}_"),
                        }
                    })
                    .collect()
            }
        };
        let read: Vec<usize> = match &mode {
            Mode::PerRow { key_col, .. } => vec![*key_col],
            Mode::Mapped(cols) => cols.iter().map(|c| c.1).collect(),
        };
        let mangled = match &recheck {
            Some(_) => read
                .into_iter()
                .zip(&prefixes)
                .filter_map(|(col, p)| Some((col, mangled::OldResult::find(original, p)?)))
                .collect(),
            None => Vec::new(),
        };
        Ok(Layout {
            mode,
            header: header.to_vec(),
            recheck,
            width: header.len(),
            prefixes,
            rules,
            unescape: true,
            mangled,
        })
    }

    /// How many checks each row carries.
    pub fn checks_per_row(&self) -> usize {
        self.prefixes.len()
    }

    /// True when the input is a checkuser output being checked again.
    pub fn is_recheck(&self) -> bool {
        self.recheck.is_some()
    }

    /// For a workbook input: its cells carry no `'` of ours (a workbook output holds text as
    /// text, unescaped), so a re-check takes nothing off them.
    pub fn from_workbook(self) -> Layout {
        Layout {
            unescape: false,
            ..self
        }
    }

    /// A record as the rest of the job sees it: for a re-checked output, the old result
    /// columns dropped and the `'` formula escaping added taken off again (CSV only; extra
    /// fields of a ragged row are kept after the header's).
    pub fn project(&self, fields: csv::StringRecord) -> csv::StringRecord {
        let Some((keep, width)) = &self.recheck else {
            return fields;
        };
        let cell = |i: usize| {
            let c = fields.get(i).unwrap_or("");
            if self.unescape {
                unescape(c)
            } else {
                c
            }
        };
        let mut out = csv::StringRecord::with_capacity(fields.as_slice().len(), fields.len());
        for &i in keep {
            out.push_field(cell(i));
        }
        for i in *width..fields.len() {
            out.push_field(cell(i));
        }
        for (col, old) in &self.mangled {
            let now = out.get(*col).unwrap_or("");
            if let Some(reason) = old.still(&cell, now) {
                let marked = marks::mark(&reason, now);
                out = out
                    .iter()
                    .enumerate()
                    .map(|(i, f)| if i == *col { marked.as_str() } else { f })
                    .collect();
            }
        }
        out
    }

    /// The output header: input header, then the result columns of each check.
    pub fn output_header(&self) -> Vec<String> {
        self.output_header_kept(&crate::model::ALL_RESULTS)
    }

    /// The output header with only the result columns `kept` (indexes into the 13).
    pub fn output_header_kept(&self, kept: &[usize]) -> Vec<String> {
        let mut out = self.header.clone();
        for p in &self.prefixes {
            out.extend(kept.iter().map(|&i| format!("{p}{}", RESULT_COLUMNS[i])));
        }
        out
    }

    /// The checks of one row, normalized and validated. `problem` (a row that could not be
    /// decoded) makes every non-empty check invalid with that reason.
    pub fn checks(
        &self,
        fields: &csv::StringRecord,
        problem: Option<&str>,
    ) -> Vec<(CheckType, Local)> {
        let mut out = Vec::new();
        self.checks_into(fields, problem, &mut out);
        out
    }

    /// [`Layout::checks`] into `out` (cleared first), reusing its memory.
    pub fn checks_into(
        &self,
        fields: &csv::StringRecord,
        problem: Option<&str>,
        out: &mut Vec<(CheckType, Local)>,
    ) {
        out.clear();
        let cell = |i: usize| fields.get(i).unwrap_or("");
        match &self.mode {
            Mode::PerRow { type_col, key_col } => {
                out.push(self.per_row(cell(*type_col), cell(*key_col)))
            }
            Mode::Mapped(cols) => out.extend(
                cols.iter()
                    .map(|(kind, col)| (*kind, self.check(*kind, cell(*col)))),
            ),
        }
        if let Some(reason) = problem {
            for (_, local) in out.iter_mut() {
                if let Local::Ready(key) | Local::Invalid { key, .. } = local {
                    *local = Local::Invalid {
                        key: std::mem::take(key),
                        reason: reason.to_string(),
                    };
                }
            }
        }
    }

    /// One cell's check: a marked cell is `invalid` with its mark's reason.
    fn check(&self, kind: CheckType, cell: &str) -> Local {
        match marks::parse(cell) {
            Some((reason, shown)) => Local::Invalid {
                key: shown.trim().to_string(),
                reason: reason.to_string(),
            },
            None => normalize::check(kind, cell, &self.rules),
        }
    }

    fn per_row(&self, type_cell: &str, key_cell: &str) -> (CheckType, Local) {
        if let Some((reason, _)) = marks::parse(type_cell) {
            let key = marks::parse(key_cell).map_or(key_cell, |m| m.1);
            return (
                CheckType::Email,
                Local::Invalid {
                    key: key.trim().to_string(),
                    reason: format!("searchType: {reason}"),
                },
            );
        }
        match type_cell.parse::<CheckType>() {
            Ok(kind) => (kind, self.check(kind, key_cell)),
            Err(_) if type_cell.trim().is_empty() && key_cell.trim().is_empty() => {
                (CheckType::Email, Local::Skipped)
            }
            Err(reason) => (
                CheckType::Email,
                Local::Invalid {
                    key: key_cell.trim().to_string(),
                    reason: format!("searchType: {reason}"),
                },
            ),
        }
    }
}

/// If the header holds a previous run's result columns, all 13 or the three of `--columns
/// brief` (for the per-row layout or for one or more `TYPE_` prefixes), the indexes of the
/// other columns.
fn previous_results(header: &[String]) -> Option<Vec<usize>> {
    let is_prefix = |p: &str| {
        p.is_empty()
            || CheckType::ALL.iter().any(|t| {
                p.strip_prefix(t.as_str())
                    .and_then(|rest| rest.strip_suffix('_'))
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
    };
    let mut prefixes: Vec<&str> = header
        .iter()
        .filter_map(|h| h.strip_suffix(RESULT_COLUMNS[0]))
        .filter(|p| is_prefix(p))
        .collect();
    // Each prefix with the set of result columns its header holds: all 13, or the brief ones.
    let sets: Vec<(&str, &[usize])> = prefixes
        .drain(..)
        .filter_map(|p| {
            let has = |i: usize| {
                header
                    .iter()
                    .any(|h| *h == format!("{p}{}", RESULT_COLUMNS[i]))
            };
            [&ALL_RESULTS[..], &BRIEF_RESULTS[..]]
                .into_iter()
                .find(|set| set.iter().all(|&i| has(i)))
                .map(|set| (p, set))
        })
        .collect();
    if sets.is_empty() {
        return None;
    }
    // Only checkuser's own columns go: the block it wrote, in its order; a user's own column
    // of the same name (a lead's `status`) stays. A block a person reordered: the last
    // column of each name (checkuser's come after the input's).
    let mut old = vec![false; header.len()];
    for (p, set) in &sets {
        let names: Vec<String> = set
            .iter()
            .map(|&i| format!("{p}{}", RESULT_COLUMNS[i]))
            .collect();
        let block = (0..header.len()).rev().find(|&j| {
            names
                .iter()
                .enumerate()
                .all(|(k, n)| header.get(j + k) == Some(n))
        });
        match block {
            Some(j) => old[j..j + names.len()].iter_mut().for_each(|o| *o = true),
            None => {
                for n in &names {
                    if let Some(i) = header.iter().rposition(|h| h == n) {
                        old[i] = true;
                    }
                }
            }
        }
    }
    Some((0..header.len()).filter(|&i| !old[i]).collect())
}

fn norm(h: &str) -> String {
    h.trim().to_ascii_lowercase()
}

fn per_row_mode(header: &[String]) -> Result<Mode> {
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&norm(h).as_str()))
    };
    match (find(&TYPE_NAMES), find(&KEY_NAMES)) {
        (Some(type_col), Some(key_col)) => Ok(Mode::PerRow { type_col, key_col }),
        _ => {
            let guess = header
                .iter()
                .find(|h| norm(h).contains("mail"))
                .or(header.first())
                .map(String::as_str)
                .unwrap_or("Email");
            bail!(
                "no columns to check: the header has neither searchType/searchKey columns nor \
                 any --check flag was given.\n  headers found: {}\n  for example: --check \
                 email={}",
                list_headers(header),
                shell_quote(guess)
            )
        }
    }
}

/// The header's names for a message: control characters escaped (they come from the file),
/// at most 30 of them.
fn list_headers(header: &[String]) -> String {
    const SHOWN: usize = 30;
    let mut list = header
        .iter()
        .take(SHOWN)
        .map(|h| format!("\"{}\"", h.escape_debug()))
        .collect::<Vec<_>>()
        .join(", ");
    if header.len() > SHOWN {
        list.push_str(&format!(" and {} more", header.len() - SHOWN));
    }
    list
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !s.is_empty()
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Finds a column by exact name, else by case-insensitive trimmed name; `#N` is the N-th column.
fn find_column(header: &[String], name: &str) -> Result<usize> {
    if let Some(n) = name.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
        if (1..=header.len()).contains(&n) {
            return Ok(n - 1);
        }
        bail!(
            "column #{n} does not exist: the header has {}",
            crate::output::summary::count(header.len() as u64, "column")
        );
    }
    let exact: Vec<usize> = (0..header.len()).filter(|&i| header[i] == name).collect();
    let hits = if exact.is_empty() {
        (0..header.len())
            .filter(|&i| norm(&header[i]) == norm(name))
            .collect()
    } else {
        exact
    };
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => bail!(
            "column \"{name}\" is not in the header.\n  headers found: {}",
            list_headers(header)
        ),
        many => {
            bail!(
            "column \"{name}\" appears {} times in the header (columns {}): rename one, or pick \
             one by position with --check TYPE=#N",
            many.len(),
            many.iter().map(|i| format!("#{}", i + 1)).collect::<Vec<_>>().join(", ")
        )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn per_row_headers_are_found_case_insensitively() {
        for (t, k) in [
            ("searchType", "searchKey"),
            ("SEARCH_TYPE", "search_value"),
            (" searchtype", "Search_Key"),
        ] {
            let l = Layout::resolve(&h(&["id", t, k]), &[], Rules::default()).unwrap();
            assert_eq!(
                l.mode,
                Mode::PerRow {
                    type_col: 1,
                    key_col: 2
                }
            );
            assert_eq!(l.output_header()[3], "checked_key");
        }
    }

    #[test]
    fn mapped_columns_get_type_prefixes_in_flag_order() {
        let header = h(&["Name", "E-Mail", "Phone", "mail2"]);
        let specs: Vec<CheckSpec> = ["mobile=Phone", "email=e-mail", "email=#4"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let l = Layout::resolve(&header, &specs, Rules::default()).unwrap();
        assert_eq!(l.prefixes, ["mobile_", "email_", "email2_"]);
        let out = l.output_header();
        assert_eq!(out.len(), 4 + 3 * 13);
        assert_eq!(out[4], "mobile_checked_key");
        assert_eq!(out[4 + 13 + 1], "email_result");
    }

    #[test]
    fn missing_and_ambiguous_columns_are_explained() {
        let header = h(&["Email", "email", "Phone"]);
        let err = Layout::resolve(&header, &["mobile=Tel".parse().unwrap()], Rules::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("\"Email\", \"email\", \"Phone\""),
            "{err}"
        );
        let err = Layout::resolve(&header, &["email=EMAIL".parse().unwrap()], Rules::default())
            .unwrap_err();
        assert!(err.to_string().contains("appears 2 times"), "{err}");
        assert!(
            Layout::resolve(&header, &["email=Email".parse().unwrap()], Rules::default()).is_ok()
        );
        let err = Layout::resolve(&header, &[], Rules::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--check email=Email"), "{err}");
    }

    #[test]
    fn per_row_types_and_empty_cells() {
        let l = Layout::resolve(&h(&["searchType", "searchKey"]), &[], Rules::default()).unwrap();
        let row = |a: &str, b: &str| {
            l.checks(&csv::StringRecord::from(vec![a, b]), None)
                .pop()
                .unwrap()
        };
        assert_eq!(
            row("email", "a@b.cd"),
            (CheckType::Email, Local::Ready("a@b.cd".into()))
        );
        assert!(
            matches!(row("phone", "1").1, Local::Invalid { reason, .. } if reason.contains("searchType"))
        );
        assert_eq!(row("", "").1, Local::Skipped);
        assert_eq!(row("name", "").1, Local::Skipped);
        assert_eq!(
            l.checks(&csv::StringRecord::from(vec!["name"]), None)[0].1,
            Local::Skipped
        );
    }

    #[test]
    fn a_previous_output_is_rechecked_with_one_set_of_result_columns() {
        let first = Layout::resolve(
            &h(&["Name", "Phone"]),
            &["mobile=Phone".parse().unwrap()],
            Rules::default(),
        )
        .unwrap();
        let header = first.output_header();
        let again = Layout::resolve(
            &header,
            &["mobile=Phone".parse().unwrap()],
            Rules::default(),
        )
        .unwrap();
        assert!(again.is_recheck());
        assert_eq!(again.output_header(), header, "one set of result columns");
        let mut row: Vec<&str> = vec!["Ann", "'+86 138 0013 8000"];
        row.extend(std::iter::repeat_n("old", 13));
        row.push("extra");
        let projected = again.project(csv::StringRecord::from(row));
        assert_eq!(
            projected.iter().collect::<Vec<_>>(),
            ["Ann", "+86 138 0013 8000", "extra"]
        );
        // A lone column named like a result column is the user's own.
        let own = Layout::resolve(
            &h(&["searchType", "searchKey", "result"]),
            &[],
            Rules::default(),
        )
        .unwrap();
        assert!(!own.is_recheck());
    }

    /// A lead's own `result`, `status` or `source` column outlives a re-check: only the block
    /// of result columns checkuser wrote is dropped.
    #[test]
    fn a_recheck_keeps_the_users_own_columns_named_like_results() {
        let first = Layout::resolve(
            &h(&["searchType", "searchKey", "status", "result", "source"]),
            &[],
            Rules::default(),
        )
        .unwrap();
        let header = first.output_header();
        let again = Layout::resolve(&header, &[], Rules::default()).unwrap();
        assert!(again.is_recheck());
        assert_eq!(
            again.output_header(),
            header,
            "the user's columns and one set of results"
        );
        let mut row: Vec<&str> = vec!["email", "a@x.yz", "hot lead", "won", "fair"];
        row.extend(std::iter::repeat_n("old", 13));
        let projected = again.project(csv::StringRecord::from(row));
        assert_eq!(
            projected.iter().collect::<Vec<_>>(),
            ["email", "a@x.yz", "hot lead", "won", "fair"]
        );
    }

    #[test]
    fn a_marked_cell_is_invalid_with_its_reason() {
        let mapped = Layout::resolve(
            &h(&["Name", "Email"]),
            &["email=Email".parse().unwrap(), "name=Name".parse().unwrap()],
            Rules::default(),
        )
        .unwrap();
        let cell = marks::mark("no saved value", "=A1&B1");
        let checks = mapped.checks(
            &csv::StringRecord::from(vec!["annlee", cell.as_str()]),
            None,
        );
        assert_eq!(
            checks[0].1,
            Local::Invalid {
                key: "=A1&B1".into(),
                reason: "no saved value".into()
            }
        );
        assert_eq!(checks[1].1, Local::Ready("annlee".into()));
        let per_row =
            Layout::resolve(&h(&["searchType", "searchKey"]), &[], Rules::default()).unwrap();
        for row in [vec!["email", cell.as_str()], vec![cell.as_str(), "a@b.cd"]] {
            let (_, local) = per_row
                .checks(&csv::StringRecord::from(row), None)
                .pop()
                .unwrap();
            assert!(
                matches!(local, Local::Invalid { reason, .. } if reason.contains("no saved value"))
            );
        }
    }

    #[test]
    fn a_value_a_previous_run_found_mangled_stays_invalid() {
        let first = Layout::resolve(
            &h(&["Name", "Phone"]),
            &["mobile=Phone".parse().unwrap()],
            Rules::default(),
        )
        .unwrap();
        let header = first.output_header();
        let rules = Rules {
            default_country: Some("86".parse().unwrap()),
            ..Rules::default()
        };
        let again = Layout::resolve(&header, &["mobile=Phone".parse().unwrap()], rules)
            .unwrap()
            .from_workbook();
        let col = |name: &str| header.iter().position(|c| c == name).unwrap();
        let reason =
            crate::normalize::mobile::mobile("1.35363E+10", None, Default::default()).unwrap_err();
        let row = |phone: &str, result: &str| {
            let mut r = vec![String::new(); header.len()];
            r[0] = "Ann".into();
            r[col("Phone")] = phone.into();
            r[col("mobile_checked_key")] = "1.35363E+10".into();
            r[col("mobile_result")] = result.into();
            r[col("mobile_error_code")] = "LOCAL".into();
            r[col("mobile_error_msg")] = reason.clone();
            csv::StringRecord::from(r)
        };
        let check = |rec| {
            let mut fields = again.project(rec);
            let (_, local) = again.checks(&fields, None).pop().unwrap();
            marks::present(&mut fields);
            (local, fields[1].to_string())
        };
        let (local, shown) = check(row("13536300000", "invalid"));
        assert!(
            matches!(&local, Local::Invalid { reason: r, .. } if r.starts_with(&reason)),
            "{local:?}"
        );
        assert_eq!(shown, "13536300000");
        // Typed again by a person, or not found mangled before: checked as it reads now.
        assert!(!matches!(
            check(row("+86 135 3631 2345", "invalid")).0,
            Local::Invalid { .. }
        ));
        assert!(!matches!(
            check(row("13536300000", "valid")).0,
            Local::Invalid { .. }
        ));
    }

    #[test]
    fn check_spec_parsing() {
        assert_eq!(
            "email=E=mail".parse::<CheckSpec>().unwrap(),
            CheckSpec {
                kind: CheckType::Email,
                column: "E=mail".into()
            }
        );
        assert!("email".parse::<CheckSpec>().is_err());
        assert!("fax=Fax".parse::<CheckSpec>().is_err());
        assert!("email=".parse::<CheckSpec>().is_err());
    }
}
