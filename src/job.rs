//! What `run`, `validate` and `plan` share before their first row: open the input, resolve its
//! layout, open the output, and start the summary with what is known already.

use anyhow::Result;

use crate::config::JobConfig;
use crate::input::sniff::TextEncoding;
use crate::input::{InputOptions, Layout, RecordReader};
use crate::output::{ChangeFeed, Format, Sink, SinkOptions, Summary};

/// An input ready to be read, with its layout.
pub struct Input {
    pub reader: RecordReader,
    pub layout: Layout,
}

/// Opens and sniffs the input and resolves its columns (no output is touched).
pub fn open_input(cfg: &JobConfig) -> Result<Input> {
    open_input_from(cfg, None, None)
}

/// The same, from a file already open (read from where it stands), or by its path when
/// `None` (a workbook). `known` is the encoding an earlier pass found: a later pass reads
/// with it (the same text for the same bytes, no second guess or warning) and is logged only
/// in detail (`-v`).
pub fn open_input_from(
    cfg: &JobConfig,
    file: Option<std::fs::File>,
    known: Option<TextEncoding>,
) -> Result<Input> {
    let opts = InputOptions {
        encoding: cfg.input.encoding.or(known),
        ..cfg.input.clone()
    };
    let reader = match file {
        Some(f) => RecordReader::from_reader(Box::new(f), cfg.input_label(), &opts)?,
        None => RecordReader::open(&opts)?,
    };
    let input = resolve(cfg, reader)?;
    match known {
        None => tracing::info!("{}", input.described(cfg)),
        Some(_) => tracing::debug!("again: {}", input.described(cfg)),
    }
    Ok(input)
}

impl Input {
    fn described(&self, cfg: &JobConfig) -> String {
        format!(
            "reading {} as {}, delimiter {:?}{}",
            cfg.input_label(),
            self.reader.encoding.name(),
            self.reader.delimiter as char,
            if self.layout.is_recheck() {
                " (a previous output: its result columns are replaced)"
            } else {
                ""
            }
        )
    }
}

/// The most columns a worksheet holds (Excel's limit, XFD).
const WORKBOOK_COLUMNS: usize = 16_384;

fn resolve(cfg: &JobConfig, reader: RecordReader) -> Result<Input> {
    let layout = Layout::resolve(&reader.header, &cfg.specs, cfg.rules)?;
    // Known now, before any request: a workbook output too wide to be written.
    let width = layout.output_header().len();
    if cfg.format == Format::Xlsx && width > WORKBOOK_COLUMNS {
        anyhow::bail!(
            "the output would have {width} columns, and a workbook holds at most \
             {WORKBOOK_COLUMNS}: write a CSV instead (-o NAME.csv)"
        );
    }
    let layout = match reader.sheet {
        Some(_) => layout.from_workbook(),
        None => layout,
    };
    Ok(Input { reader, layout })
}

/// The output for an input; `changes_sheet` gives a workbook output a `Changes` sheet.
pub fn open_sink(cfg: &JobConfig, input: &Input, changes_sheet: bool) -> Result<Sink> {
    sink_at(cfg, input, cfg.output.clone(), cfg.format, changes_sheet)
}

/// The `--changes` output: the same columns, CSV unless its name ends in `.xlsx`.
pub fn open_changes(
    cfg: &JobConfig,
    input: &Input,
    path: Option<&std::path::Path>,
) -> Result<ChangeFeed> {
    let Some(path) = path else {
        return Ok(ChangeFeed::new(None));
    };
    let xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let format = if xlsx { Format::Xlsx } else { Format::Csv };
    Ok(ChangeFeed::new(Some(sink_at(
        cfg,
        input,
        Some(path.to_path_buf()),
        format,
        false,
    )?)))
}

fn sink_at(
    cfg: &JobConfig,
    input: &Input,
    path: Option<std::path::PathBuf>,
    format: Format,
    changes_sheet: bool,
) -> Result<Sink> {
    let opts = SinkOptions {
        path,
        delimiter: input.reader.delimiter,
        bom: cfg.bom,
        escape_formulas: cfg.escape_formulas,
        format,
        changes_sheet,
    };
    Sink::create(&opts, &input.layout.output_header(), input.layout.width)
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
