//! Everything that leaves the program as results: the annotated CSV (written atomically),
//! formula escaping, the summary, and the progress display.

pub mod atomic;
pub mod cells;
pub mod counts;
pub mod csv;
pub mod escape;
pub mod metrics;
pub mod progress;
pub mod summary;
pub mod xlsx;

pub use self::csv::CsvSink;
pub use counts::Counts;
pub use summary::Summary;

use anyhow::Result;

use crate::model;

/// How the output is written.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// `None` is standard output.
    pub path: Option<std::path::PathBuf>,
    pub delimiter: u8,
    pub bom: bool,
    pub escape_formulas: bool,
    pub format: Format,
    /// A workbook gets a `Changes` sheet (a `run`: rows whose answer changed).
    pub changes_sheet: bool,
}

/// The output file, in the format its name (or `--format`) asks for.
pub enum Sink {
    Csv(Box<CsvSink>),
    Xlsx(Box<xlsx::XlsxSink>),
    /// The same rows in two files (`serve` keeps a job's result as CSV and as a workbook).
    Both(Box<Sink>, Box<Sink>),
}

impl Sink {
    /// A sink with every result column.
    pub fn create(opts: &SinkOptions, header: &[String], width: usize) -> Result<Sink> {
        Sink::create_with(opts, Columns::Full, header, width)
    }

    /// A sink whose CSV holds the result columns `columns` keeps (`header` names those); a
    /// workbook holds them all (`header` naming all of them), showing what people read.
    pub fn create_with(
        opts: &SinkOptions,
        columns: Columns,
        header: &[String],
        width: usize,
    ) -> Result<Sink> {
        Ok(match opts.format {
            Format::Csv => Sink::Csv(Box::new(
                CsvSink::create(opts, header, width)?.keeping(columns.kept()),
            )),
            Format::Xlsx => {
                let sink =
                    xlsx::XlsxSink::create(opts.path.clone(), header, width, xlsx::EXCEL_MAX_ROWS)?;
                Sink::Xlsx(Box::new(if opts.changes_sheet {
                    sink.with_changes_sheet()?
                } else {
                    sink
                }))
            }
        })
    }

    pub fn write_row(
        &mut self,
        fields: &::csv::StringRecord,
        outcomes: &[model::Outcome],
    ) -> Result<()> {
        match self {
            Sink::Csv(s) => s.write_row(fields, outcomes),
            Sink::Xlsx(s) => s.write_row(fields, outcomes),
            Sink::Both(a, b) => {
                a.write_row(fields, outcomes)?;
                b.write_row(fields, outcomes)
            }
        }
    }

    /// Results sheets used (the workbook only).
    pub fn sheet_names(&self) -> Vec<String> {
        match self {
            Sink::Csv(_) => Vec::new(),
            Sink::Xlsx(s) => s.sheet_names(),
            Sink::Both(a, _) => a.sheet_names(),
        }
    }

    /// Completes the file and moves it into place; the workbook also gets the summary.
    pub fn finish(self, summary: &Summary) -> Result<()> {
        match self {
            Sink::Csv(s) => s.finish(),
            Sink::Xlsx(s) => s.finish(summary),
            Sink::Both(a, b) => {
                a.finish(summary)?;
                b.finish(summary)
            }
        }
    }
}

/// `--changes`: the rows with an answer that changed since the value's previous answer.
pub struct ChangeFeed {
    sink: Option<Sink>,
}

impl ChangeFeed {
    pub fn new(sink: Option<Sink>) -> ChangeFeed {
        ChangeFeed { sink }
    }

    /// Writes the row if one of its checks changed.
    pub fn offer(
        &mut self,
        fields: &::csv::StringRecord,
        outcomes: &[model::Outcome],
    ) -> Result<()> {
        match &mut self.sink {
            Some(s) if outcomes.iter().any(|o| o.transition().is_some()) => {
                s.write_row(fields, outcomes)
            }
            _ => Ok(()),
        }
    }

    pub fn finish(self, summary: &Summary) -> Result<()> {
        match self.sink {
            Some(s) => s.finish(summary),
            None => Ok(()),
        }
    }
}

/// How a command talks to people.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    pub quiet: bool,
    pub verbose: u8,
    pub progress: progress::ProgressMode,
    pub log_pii: bool,
}

/// `--columns`: which of a check's result columns an output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Columns {
    /// All 13, in contract order.
    #[default]
    Full,
    /// `checked_key`, `result` and `error_msg`: the columns a person reads.
    Brief,
}

impl Columns {
    /// The indexes, among [`model::RESULT_COLUMNS`], of the columns kept.
    pub fn kept(self) -> &'static [usize] {
        match self {
            Columns::Full => &model::ALL_RESULTS,
            Columns::Brief => &model::BRIEF_RESULTS,
        }
    }
}

/// Output formats: the one registry of names and extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// The format a file name asks for: a workbook for `.xlsx`, CSV otherwise.
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension() {
            Some(e) if e.eq_ignore_ascii_case("xlsx") => Format::Xlsx,
            _ => Format::Csv,
        }
    }

    /// The file extension this format is written with.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}
