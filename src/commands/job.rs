//! What `run`, `validate` and `plan` share before their first row: open the input (once, into a
//! snapshot every pass reads), resolve its layout, open the outputs, and start the summary.
//! [`JobSource`] is how the engine sees all of it.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};

use crate::config::JobConfig;
use crate::input::sniff::TextEncoding;
use crate::input::{Input, InputOptions, Layout, RecordReader};
use crate::output::{ChangeFeed, Format, Sink, SinkOptions, Summary};

use crate::output::xlsx::EXCEL_MAX_COLUMNS;

/// Opens and sniffs the input and resolves its columns (no output is touched).
pub fn open_input(cfg: &JobConfig) -> Result<Input> {
    let input = resolve(cfg, RecordReader::open_at(&cfg.input, cfg.header_row)?)?;
    tracing::info!("{}", input.described(cfg));
    Ok(input)
}

/// The input's bytes, taken once, so that every pass of a run reads the same rows whatever
/// happens to the file meanwhile (saved over, edited, deleted): a CSV copied into a private
/// temporary file, a workbook converted once to CSV text.
pub struct Snapshot {
    file: Arc<File>,
    label: String,
    /// The workbook's sheet, for a workbook.
    sheet: Option<String>,
    /// The encoding the first reading found: later ones read with it (the same text for the
    /// same bytes, no second guess or warning).
    known: Mutex<Option<TextEncoding>>,
    /// Whether the first reading said how it reads the input (once per run, workbooks too).
    told: std::sync::atomic::AtomicBool,
    /// A workbook's rows after its header among the first few (where to look for a header).
    later_rows: Vec<(u64, Vec<String>)>,
}

/// A missing or unreachable input file is the command's first and only word: checked before
/// anything starts, logs or waits (a path that is not there is not "a pipe").
pub fn check_input(cfg: &JobConfig) -> Result<()> {
    if let Some(path) = &cfg.input.path {
        std::fs::metadata(path)
            .map_err(|e| anyhow!("cannot open input {}: {e}", path.display()))?;
    }
    Ok(())
}

impl Snapshot {
    /// Takes the input named by `cfg` (a file).
    pub fn take(cfg: &JobConfig) -> Result<Snapshot> {
        let path = cfg
            .input
            .path
            .as_ref()
            .ok_or_else(|| anyhow!("internal error: a snapshot needs a file"))?;
        if crate::input::workbook::is_workbook(path) {
            let book = crate::input::workbook::convert_at(
                path,
                cfg.input.sheet.as_deref(),
                cfg.header_row,
            )?;
            return Ok(Snapshot {
                file: Arc::new(book.file),
                label: format!("{} (sheet '{}')", path.display(), book.shown),
                sheet: Some(book.shown),
                known: Mutex::new(Some(TextEncoding::Utf8 { strict: true })),
                told: Default::default(),
                later_rows: book.later_rows,
            });
        }
        let mut original =
            File::open(path).map_err(|e| anyhow!("cannot open input {}: {e}", path.display()))?;
        let mut copy = tempfile::tempfile()
            .context("cannot make a private copy of the input in the temporary folder")?;
        std::io::copy(&mut original, &mut copy).with_context(|| {
            format!(
                "cannot copy {} to the temporary folder (is it full? set TMPDIR)",
                path.display()
            )
        })?;
        copy.rewind()?;
        Ok(Snapshot {
            file: Arc::new(copy),
            label: path.display().to_string(),
            sheet: None,
            known: Mutex::new(None),
            told: Default::default(),
            later_rows: Vec::new(),
        })
    }

    /// The snapshot read from its start, with its own position (readings never share one).
    pub fn read(&self, cfg: &JobConfig) -> Result<Input> {
        let reader = self.records(cfg)?;
        let input = resolve(cfg, reader)?;
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(input.reader.encoding);
        if self.told.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::debug!("again: {}", input.described(cfg));
        } else {
            tracing::info!("{}", input.described(cfg));
        }
        Ok(input)
    }

    /// The snapshot's records from its start, before any column is looked for (its header
    /// and rows as they are: what `serve` shows for a person to map).
    pub fn records(&self, cfg: &JobConfig) -> Result<RecordReader> {
        let known = *self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mut opts = InputOptions {
            encoding: cfg.input.encoding.or(known),
            ..cfg.input.clone()
        };
        if self.sheet.is_some() {
            opts.delimiter = Some(b',');
        }
        let at = ReadAt {
            file: self.file.clone(),
            pos: 0,
        };
        // A workbook's converted text starts at its header row already.
        let header_row = cfg.header_row.filter(|_| self.sheet.is_none());
        let mut reader =
            RecordReader::from_reader_at(Box::new(at), self.label.clone(), &opts, header_row)?;
        if self.sheet.is_some() {
            reader.later_rows = self.later_rows.clone();
        }
        reader.sheet = self.sheet.clone();
        Ok(reader)
    }
}

/// Reads a shared file from its own position (`pread`), so that two readings of one snapshot
/// never move each other.
struct ReadAt {
    file: Arc<File>,
    pos: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Input {
    fn described(&self, cfg: &JobConfig) -> String {
        let how = match &self.reader.sheet {
            Some(sheet) => format!("a workbook, sheet '{sheet}'"),
            None => format!(
                "{}, delimiter {:?}",
                self.reader.encoding.name(),
                self.reader.delimiter as char
            ),
        };
        let row = match cfg.header_row {
            Some(n) if n > 1 => format!(", header on row {n} (the rows above are not read)"),
            _ => String::new(),
        };
        format!(
            "reading {} as {how}{row}{}",
            cfg.input_label(),
            if self.layout.is_recheck() {
                " (a previous output: its result columns are replaced)"
            } else {
                ""
            }
        )
    }
}

fn resolve(cfg: &JobConfig, mut reader: RecordReader) -> Result<Input> {
    let layout = match Layout::resolve(&reader.header, &cfg.specs, cfg.rules) {
        Ok(layout) => layout,
        // Row 1 is no header, but a later row is: say which.
        Err(e) if cfg.header_row.is_none() && later_header(cfg, &reader).is_some() => {
            let n = later_header(cfg, &reader).unwrap_or(1);
            let text = e.to_string();
            let head = text.split("\n  for example:").next().unwrap_or(&text);
            anyhow::bail!(
                "{head}\n  row {n} holds the columns asked for: pass --header-row {n} (the rows \
                 above it are not read)"
            )
        }
        // No --check and no per-row columns: show flags for the columns that look right.
        Err(e) if cfg.specs.is_empty() => {
            return Err(super::suggest::no_columns(e, &mut reader, cfg.rules))
        }
        Err(e) => return Err(e),
    };
    let layout = match reader.sheet {
        Some(_) => layout.from_workbook(),
        None => layout,
    };
    let input = Input { reader, layout };
    // Known now, before any request: a workbook output too wide to be written.
    check_width(cfg, &input, 0, None)?;
    Ok(input)
}

/// The first row after the header, among the first few, that holds the columns asked for.
fn later_header(cfg: &JobConfig, reader: &RecordReader) -> Option<u64> {
    reader
        .later_rows
        .iter()
        .find(|(_, cells)| Layout::resolve(cells, &cfg.specs, cfg.rules).is_ok())
        .map(|(n, _)| *n)
}

/// Refuses workbook outputs (`-o`, `--changes`) that could not hold rows `widest` fields wide
/// (a stray cell far to the right of a ragged row counts, not only the header).
fn check_width(
    cfg: &JobConfig,
    input: &Input,
    widest: usize,
    changes: Option<&Path>,
) -> Result<()> {
    let width = input.layout.output_header().len() + widest.saturating_sub(input.layout.width);
    if let Some(what) = workbooks(cfg, changes).first() {
        if width > EXCEL_MAX_COLUMNS {
            anyhow::bail!(
                "{what} would have {width} columns, and a workbook holds at most \
                 {EXCEL_MAX_COLUMNS}: write a CSV instead (-o NAME.csv{})",
                if widest > input.layout.width {
                    ", or remove the stray cells far to the right of some rows"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// The outputs that are workbooks, as messages name them.
fn workbooks(cfg: &JobConfig, changes: Option<&Path>) -> Vec<&'static str> {
    let changes_xlsx = changes.is_some_and(|p| Format::of_path(p) == Format::Xlsx);
    [
        ("the output", cfg.format == Format::Xlsx),
        ("--changes", changes_xlsx),
    ]
    .into_iter()
    .filter_map(|(what, xlsx)| xlsx.then_some(what))
    .collect()
}

/// The most fields a row may have for every workbook output to hold it whole, with the result
/// columns; `None` when no output is a workbook (a CSV row has no width limit).
fn row_limit(cfg: &JobConfig, input: &Input, changes: Option<&Path>) -> Option<usize> {
    let results = input.layout.output_header().len() - input.layout.width;
    (!workbooks(cfg, changes).is_empty()).then(|| EXCEL_MAX_COLUMNS.saturating_sub(results))
}

/// The output for an input; `changes_sheet` gives a workbook output a `Changes` sheet.
pub fn open_sink(cfg: &JobConfig, input: &Input, changes_sheet: bool) -> Result<Sink> {
    let sink = sink_at(cfg, input, cfg.output.clone(), cfg.format, changes_sheet)?;
    twinned(cfg, input, sink, cfg.twin.clone(), changes_sheet)
}

/// `sink`, and the same rows at `twin` in the format its name says, if there is one.
fn twinned(
    cfg: &JobConfig,
    input: &Input,
    sink: Sink,
    twin: Option<PathBuf>,
    changes_sheet: bool,
) -> Result<Sink> {
    let Some(twin) = twin else {
        return Ok(sink);
    };
    let format = Format::of_path(&twin);
    let other = sink_at(cfg, input, Some(twin), format, changes_sheet)?;
    Ok(Sink::Both(Box::new(sink), Box::new(other)))
}

/// The `--changes` output: the same columns, in the format its name says.
pub fn open_changes(cfg: &JobConfig, input: &Input, path: Option<&Path>) -> Result<ChangeFeed> {
    let Some(path) = path else {
        return Ok(ChangeFeed::new(None));
    };
    let format = Format::of_path(path);
    let sink = sink_at(cfg, input, Some(path.to_path_buf()), format, false)?;
    let twin = cfg.twin.as_ref().map(|_| {
        let other = match format {
            Format::Csv => Format::Xlsx,
            Format::Xlsx => Format::Csv,
        };
        path.with_extension(other.extension())
    });
    Ok(ChangeFeed::new(Some(twinned(
        cfg, input, sink, twin, false,
    )?)))
}

fn sink_at(
    cfg: &JobConfig,
    input: &Input,
    path: Option<PathBuf>,
    format: Format,
    changes_sheet: bool,
) -> Result<Sink> {
    let opts = SinkOptions {
        bom: crate::output::csv::wants_bom(cfg.bom, path.as_deref()),
        path,
        delimiter: input.reader.delimiter,
        escape_formulas: cfg.escape_formulas,
        format,
        changes_sheet,
    };
    let header = match format {
        Format::Csv => input.layout.output_header_kept(cfg.columns.kept()),
        Format::Xlsx => input.layout.output_header(),
    };
    Sink::create_with(&opts, cfg.columns, &header, input.layout.width)
}

/// The summary's first figures: what runs, on what, since when.
pub fn summary(cfg: &JobConfig, command: &'static str, input: &Input) -> Summary {
    Summary {
        command,
        input: cfg.input_label(),
        output: cfg.output_label(),
        encoding: match &input.reader.sheet {
            Some(sheet) => format!("workbook (sheet '{sheet}')"),
            None => input.reader.encoding.name().to_string(),
        },
        ..Summary::started()
    }
}

/// A run's input and outputs, as the engine sees them.
pub struct JobSource {
    pub job: JobConfig,
    pub changes: Option<PathBuf>,
    pub simulated: bool,
    /// The snapshot, for a file; `None` reads standard input or a pipe once.
    snapshot: Option<Snapshot>,
    /// The one reading of a pipe.
    once: Mutex<bool>,
}

impl JobSource {
    /// Takes the snapshot now when the input is a regular file.
    pub fn new(job: JobConfig, changes: Option<PathBuf>, simulated: bool) -> Result<JobSource> {
        let snapshot = match job.input_is_regular_file() {
            true => Some(Snapshot::take(&job)?),
            false => None,
        };
        Ok(JobSource {
            job,
            changes,
            simulated,
            snapshot,
            once: Mutex::new(false),
        })
    }
}

impl crate::engine::Source for JobSource {
    fn read(&self) -> Result<Input> {
        match &self.snapshot {
            Some(s) => s.read(&self.job),
            None => {
                let mut read = self.once.lock().unwrap_or_else(|p| p.into_inner());
                if std::mem::replace(&mut *read, true) {
                    anyhow::bail!("internal error: a pipe cannot be read twice");
                }
                open_input(&self.job)
            }
        }
    }

    fn rereadable(&self) -> bool {
        self.snapshot.is_some()
    }

    fn summary(&self, input: &Input) -> Summary {
        Summary {
            simulated: self.simulated,
            ..summary(&self.job, "run", input)
        }
    }

    fn preflight(&self, input: &Input, widest: usize) -> Result<()> {
        check_width(&self.job, input, widest, self.changes.as_deref())?;
        if self.job.format == Format::Xlsx {
            crate::output::xlsx::check_spool(self.job.output.as_deref())?;
        }
        if let Some(c) = self
            .changes
            .as_deref()
            .filter(|c| Format::of_path(c) == Format::Xlsx)
        {
            crate::output::xlsx::check_spool(Some(c))?;
        }
        Ok(())
    }

    fn row_limit(&self, input: &Input) -> Option<usize> {
        row_limit(&self.job, input, self.changes.as_deref())
    }

    fn outputs(&self, input: &Input) -> Result<(Sink, ChangeFeed)> {
        Ok((
            open_sink(&self.job, input, true)?,
            open_changes(&self.job, input, self.changes.as_deref())?,
        ))
    }
}
