//! A streaming CSV record reader for untrusted input: it never buffers the whole file, caps
//! the size of one record, names the record where an unterminated quote starts, and turns
//! every cell into text in the input's encoding without ever dropping a row.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::marks;
use super::sniff::{self, TextEncoding};
use super::switch::Utf16Watch;

/// The largest record accepted; anything bigger is almost certainly a broken quote.
pub const DEFAULT_RECORD_CAP: usize = 1 << 20;

/// How much of the input is looked at to guess the encoding and delimiter.
const SNIFF_LEN: usize = 64 * 1024;

/// The csv reader's buffer; the record-size guard allows for what it reads ahead.
const CSV_BUFFER: usize = 64 * 1024;

/// How far past the first record that is not UTF-8 the reader looks for the others, to decide
/// one legacy encoding from all of them.
const LOOKAHEAD: u64 = 4 << 20;

/// How much of the rest of the file is read to tell a long field from an unclosed quote.
const QUOTE_SCAN: u64 = 1 << 30;

/// Rows looked at for the column names when row 1 does not hold them.
pub const HEADER_SEARCH_ROWS: usize = 20;

/// What the user said (or did not say) about the input.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// The file to read; `None` is standard input.
    pub path: Option<PathBuf>,
    pub delimiter: Option<u8>,
    pub encoding: Option<TextEncoding>,
    pub record_cap: usize,
    /// `--sheet`, for a workbook.
    pub sheet: Option<String>,
    /// The locale's region, a hint for guessing a legacy encoding ([`sniff::locale_region`]).
    pub region: Option<String>,
}

/// One data record (the header is not one), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based number among data records (the header is record 0).
    pub number: u64,
    /// Line where the record starts (quoted newlines make this differ from `number`).
    pub line: u64,
    pub fields: csv::StringRecord,
    /// Set when the record's bytes could not be read as text in strict UTF-8 mode.
    pub problem: Option<String>,
}

/// Wraps the byte source to stop one record from growing without bound, and to count quotes
/// so that an unterminated quote can be reported.
struct Guard<R> {
    inner: R,
    delivered: u64,
    record_start: u64,
    cap: u64,
    quotes: u64,
    tripped: bool,
    /// The last byte read: a file that does not end in a line end may have been cut off.
    last: Option<u8>,
    /// A copy of the last chunk read and where it starts, kept (for UTF-8 input that may fall
    /// back) because the csv reader's unread buffer lies within it.
    keep_chunk: bool,
    chunk: Vec<u8>,
    chunk_start: u64,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.delivered.saturating_sub(self.record_start) > self.cap + CSV_BUFFER as u64 {
            self.tripped = true;
            return Err(io::Error::other("record too large"));
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        if self.keep_chunk {
            self.chunk.clear();
            self.chunk.extend_from_slice(&buf[..n]);
            self.chunk_start = self.delivered;
        }
        self.delivered += n as u64;
        self.quotes += buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
        Ok(n)
    }
}

/// Streams records from a CSV input after sniffing its encoding and delimiter.
pub struct RecordReader {
    csv: csv::Reader<Guard<Box<dyn Read + Send>>>,
    raw: csv::ByteRecord,
    pub header: Vec<String>,
    pub delimiter: u8,
    pub encoding: TextEncoding,
    /// The sheet read, when the input is a workbook.
    pub sheet: Option<String>,
    /// How many records of a UTF-8 input were not UTF-8 and were decoded on their own.
    pub fallback_records: u64,
    /// The legacy encoding of those records: one for the file, decided at the first of them
    /// from all of them that lie ahead (up to [`LOOKAHEAD`] bytes), with the locale's hint.
    pub fallback_encoding: Option<&'static encoding_rs::Encoding>,
    /// For a workbook: cells holding a formula with no saved value (their checks are invalid).
    pub formula_cells: u64,
    /// The rows after the header among the first [`HEADER_SEARCH_ROWS`], numbered as a
    /// spreadsheet shows them, each read on its own: where to look for the column names when
    /// the header row does not hold them. Empty with `--header-row`.
    pub later_rows: Vec<(u64, Vec<String>)>,
    /// Whether cells may carry marks ([`marks`]): true for a converted workbook; a CSV's
    /// cells have a leading mark defused.
    marked: bool,
    region: Option<String>,
    cap: usize,
    number: u64,
    /// Line where the next record starts (csv does not count newlines inside quotes).
    line: u64,
    /// Whether the last record had a field spanning lines (an unterminated quote would).
    last_multiline: bool,
    line_of_last: u64,
    /// Fields of the last record read.
    fields_of_last: usize,
    source: String,
}

/// The first bytes the encoding and delimiter are guessed from: up to [`SNIFF_LEN`], but no
/// more than a pipe has ready once a whole line is there (a read that returns less than asked
/// means nothing more is waiting), so a pipe that sends a few rows and stays open is read now,
/// not when it closes.
fn sniff_prefix(source: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut prefix = vec![0; SNIFF_LEN];
    let mut len = 0;
    while len < SNIFF_LEN {
        let n = match source.read(&mut prefix[len..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n;
        let short = len < SNIFF_LEN && n < 4096;
        if short && prefix[..len].contains(&b'\n') {
            break;
        }
    }
    prefix.truncate(len);
    Ok(prefix)
}

impl RecordReader {
    /// Opens the input, sniffs it and reads the header row (row 1).
    pub fn open(opts: &InputOptions) -> Result<RecordReader> {
        RecordReader::open_at(opts, None)
    }

    /// [`RecordReader::open`] with the header on row `header_row` (`--header-row`, 1-based):
    /// the rows above it are not read.
    pub fn open_at(opts: &InputOptions, header_row: Option<u64>) -> Result<RecordReader> {
        let (source, label): (Box<dyn Read + Send>, String) = match &opts.path {
            None => return RecordReader::from_stdin(opts, header_row),
            Some(p) if super::workbook::is_workbook(p) => {
                return RecordReader::from_workbook(p, &p.display().to_string(), opts, header_row)
            }
            Some(p) => (Box::new(open_file(p)?), p.display().to_string()),
        };
        RecordReader::from_reader_at(source, label, opts, header_row)
    }

    /// Standard input: a workbook is recognised by its first bytes, as a file is, and read
    /// from a private temporary copy (a workbook is read whole anyway); anything else streams.
    fn from_stdin(opts: &InputOptions, header_row: Option<u64>) -> Result<RecordReader> {
        let label = "standard input";
        let mut stdin = io::stdin();
        let mut head = Vec::with_capacity(8);
        (&mut stdin)
            .take(8)
            .read_to_end(&mut head)
            .with_context(|| format!("cannot read {label}"))?;
        let rest: Box<dyn Read + Send> = Box::new(Cursor::new(head.clone()).chain(stdin));
        if !super::workbook::starts_like_workbook(&head) {
            return RecordReader::from_reader_at(rest, label.into(), opts, header_row);
        }
        let mut copy = tempfile::NamedTempFile::new()
            .context("cannot keep the workbook from standard input in the temporary folder")?;
        io::copy(&mut { rest }, copy.as_file_mut()).with_context(|| {
            format!(
                "cannot copy the workbook from {label} (is the temporary folder full? set TMPDIR)"
            )
        })?;
        RecordReader::from_workbook(copy.path(), label, opts, header_row)
    }

    /// A workbook's sheet, converted once to CSV text and read from there.
    fn from_workbook(
        path: &std::path::Path,
        named: &str,
        opts: &InputOptions,
        header_row: Option<u64>,
    ) -> Result<RecordReader> {
        let book = super::workbook::convert_at(path, opts.sheet.as_deref(), header_row)?;
        let (csv, sheet) = (book.file, book.shown);
        let opts = InputOptions {
            delimiter: Some(b','),
            encoding: Some(TextEncoding::Utf8 { strict: true }),
            ..opts.clone()
        };
        let label = format!("{named} (sheet '{sheet}')");
        let mut r = RecordReader::from_reader(Box::new(csv), label, &opts)?;
        r.sheet = Some(sheet);
        r.formula_cells = book.formula_cells;
        r.later_rows = book.later_rows;
        r.marked = true;
        Ok(r)
    }

    /// Like `open`, from any byte source (`opts.path` is ignored); `label` names it in messages.
    pub fn from_reader(
        source: Box<dyn Read + Send>,
        label: String,
        opts: &InputOptions,
    ) -> Result<RecordReader> {
        RecordReader::from_reader_at(source, label, opts, None)
    }

    /// [`RecordReader::from_reader`] with the header on row `header_row` (`--header-row`).
    /// An Excel `sep=X` first line names the delimiter and is no row (rows are counted
    /// without it, as a spreadsheet shows them); the rows above the header are skipped as
    /// lines, never parsed (a title's stray quote cannot swallow the file).
    pub fn from_reader_at(
        mut source: Box<dyn Read + Send>,
        label: String,
        opts: &InputOptions,
        header_row: Option<u64>,
    ) -> Result<RecordReader> {
        let prefix = sniff_prefix(&mut source).with_context(|| format!("cannot read {label}"))?;
        if prefix.is_empty() {
            bail!("{label} is empty: expected a CSV file with a header row");
        }
        let bom = sniff::bom(&prefix);
        let region = opts.region.as_deref();
        let encoding = opts.encoding.or(bom.map(|b| b.1)).unwrap_or_else(|| {
            let sample = &prefix[bom.map_or(0, |b| b.0)..];
            let guess = sniff::detect_encoding(sample, region);
            let evidence = sample.iter().filter(|b| !b.is_ascii()).count();
            if matches!(guess, TextEncoding::Other(_)) && evidence < sniff::FEW_NON_ASCII {
                let hint = region.map(|r| format!(" and the locale's region ({r})"));
                tracing::warn!(
                    "{label}: the encoding {} was guessed from only {evidence} non-ASCII \
                     bytes{}; if names look wrong in the output, pass --encoding (gbk, big5, \
                     shift_jis, euc-kr, windows-1252, ...)",
                    guess.name(),
                    hint.unwrap_or_default()
                );
            }
            guess
        });
        let joined: Box<dyn Read + Send> = Box::new(Cursor::new(prefix).chain(source));
        // UTF-8 is parsed as bytes (a bad record is decoded on its own); anything else is
        // transcoded to UTF-8 first, its byte-order mark dropped.
        let (start, skip, sample): (Box<dyn Read + Send>, usize, Vec<u8>) = match encoding {
            TextEncoding::Utf8 { .. } => {
                let skip = bom.map_or(0, |b| b.0);
                let mut joined = joined;
                let mut sample = sniff_prefix(&mut joined)?;
                let start = Box::new(Cursor::new(sample.clone()).chain(joined));
                sample.drain(..skip.min(sample.len()));
                (start, skip, sample)
            }
            TextEncoding::Other(enc) => {
                // Two exports joined: a UTF-16 file that goes on in UTF-8 is stopped there.
                let joined: Box<dyn Read + Send> = match enc {
                    e if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => Box::new(
                        Utf16Watch::new(joined, e == encoding_rs::UTF_16BE, label.clone()),
                    ),
                    _ => joined,
                };
                let mut decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .bom_override(true)
                    .strip_bom(true)
                    .build(joined);
                let sample = sniff_prefix(&mut decoded)
                    .with_context(|| format!("cannot read {label} as {}", enc.name()))?;
                let start = Box::new(Cursor::new(sample.clone()).chain(decoded));
                (start, 0, sample)
            }
        };
        let above = above_header(&sample, header_row, &label)?;
        let from_header = &sample[above.bytes..];
        let delimiter = delimiter_of(opts.delimiter, above.sep, from_header, &label);
        let skip = skip + above.bytes;
        let mut guard = Guard {
            inner: start,
            delivered: 0,
            record_start: 0,
            cap: opts.record_cap as u64,
            quotes: 0,
            tripped: false,
            last: None,
            keep_chunk: encoding == TextEncoding::Utf8 { strict: false },
            chunk: Vec::new(),
            chunk_start: 0,
        };
        io::copy(&mut (&mut guard).take(skip as u64), &mut io::sink())?;
        guard.delivered = 0;
        let csv = csv::ReaderBuilder::new()
            .buffer_capacity(CSV_BUFFER)
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(guard);
        let mut reader = RecordReader {
            csv,
            raw: csv::ByteRecord::new(),
            header: Vec::new(),
            delimiter,
            encoding,
            sheet: None,
            fallback_records: 0,
            fallback_encoding: None,
            formula_cells: 0,
            later_rows: match header_row {
                None => later_rows(from_header, opts.delimiter.or(above.sep)),
                Some(_) => Vec::new(),
            },
            marked: false,
            region: opts.region.clone(),
            cap: opts.record_cap,
            number: 0,
            line: 1 + above.lines,
            last_multiline: false,
            line_of_last: 0,
            fields_of_last: 0,
            source: label,
        };
        match reader.next_record()? {
            // A byte-order mark inside a quoted first name was no BOM to the sniffer; as the
            // first bytes of an output it would be one to every reader (and names never hold
            // one): it goes.
            // A header cell of a workbook that is a formula with no value is named by the
            // formula.
            Some(h) => {
                let name = |f: &str| {
                    let f = marks::parse(f).map_or(f, |(_, shown)| shown);
                    f.trim_start_matches('\u{feff}').to_string()
                };
                reader.header = h.fields.iter().map(name).collect()
            }
            None => bail!("{} has no header row", reader.source),
        }
        Ok(reader)
    }

    /// The next data record, or `None` at the end. Errors are located and final.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        self.next_record_into(csv::StringRecord::new())
    }

    /// [`RecordReader::next_record`], reusing the memory of a spent record.
    pub fn next_record_into(&mut self, spent: csv::StringRecord) -> Result<Option<Record>> {
        let start = self.csv.position().byte();
        self.csv.get_mut().record_start = start;
        let which = |n: u64| {
            if n == 0 {
                "the header".to_string()
            } else {
                format!("record {n}")
            }
        };
        match self.csv.read_byte_record(&mut self.raw) {
            Ok(false) if self.last_multiline && self.csv.get_ref().quotes % 2 == 1 => bail!(
                "{} of {} (line {}) opens a quote that is never closed, so it swallows the rest \
                 of the file: fix the quote and run again",
                which(self.number - 1),
                self.source,
                self.line_of_last
            ),
            Ok(false) => {
                self.warn_if_cut_off();
                return Ok(None);
            }
            Ok(true) => {}
            Err(_) if self.csv.get_ref().tripped => {
                let what = format!(
                    "{} of {} (starting at line {}) is larger than {} KiB",
                    which(self.number),
                    self.source,
                    self.line,
                    self.cap / 1024
                );
                bail!("{what}: {}", self.why_too_large())
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read {} of {}", which(self.number), self.source)
                })
            }
        }
        let line = self.line;
        let inner_newlines: usize = self
            .raw
            .iter()
            .map(|f| f.iter().filter(|&&b| b == b'\n').count())
            .sum();
        self.last_multiline = inner_newlines > 0;
        self.line_of_last = line;
        self.fields_of_last = self.raw.len();
        self.line += 1 + inner_newlines as u64;
        let (mut fields, problem) = self.decode(spent);
        if !self.marked {
            marks::defuse_record(&mut fields);
        }
        let rec = Record {
            number: self.number,
            line,
            fields,
            problem,
        };
        self.number += 1;
        Ok(Some(rec))
    }

    /// Why a record grew past the cap. A converted workbook's cells are bounded, so many big
    /// cells did it. In a CSV, an unclosed quote swallows the rest of the file, which then
    /// holds an odd number of quotes; with every quote closed, one field is simply that long.
    fn why_too_large(&mut self) -> String {
        if self.sheet.is_some() {
            return format!(
                "its cells together hold more text than a row may (a cell may hold {})",
                super::workbook::limits::size(super::workbook::limits::MAX_CELL)
            );
        }
        let guard = self.csv.get_mut();
        let (mut quotes, mut seen) = (guard.quotes, 0u64);
        let mut buf = vec![0u8; 1 << 16];
        let complete = loop {
            match guard.inner.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    quotes += buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
                    seen += n as u64;
                    if seen > QUOTE_SCAN {
                        break false;
                    }
                }
                Err(_) => break false,
            }
        };
        if complete && quotes % 2 == 0 {
            "one of its fields is that long, though every quote in the file is closed; no lead \
             list holds such a field: check what was exported into it"
                .into()
        } else {
            "probably a quote that is never closed starts there".into()
        }
    }

    /// The one legacy encoding for the records of a UTF-8 file that are not UTF-8, decided at
    /// the first of them from its bytes and those of every such line in the next
    /// [`LOOKAHEAD`] bytes (what the csv reader holds unread, and what is read ahead and put
    /// back), with the locale's region as a hint: a few bytes of one row alone are too little
    /// to tell GBK from EUC-KR or Big5.
    fn decide_fallback(&mut self) -> &'static encoding_rs::Encoding {
        let pos = self.csv.position().byte();
        let guard = self.csv.get_mut();
        let mut window = match pos.checked_sub(guard.chunk_start) {
            Some(at) => guard.chunk.get(at as usize..).unwrap_or(&[]).to_vec(),
            None => Vec::new(),
        };
        let unread = window.len();
        let mut inner = std::mem::replace(&mut guard.inner, Box::new(io::empty()));
        let failed = (&mut inner).take(LOOKAHEAD).read_to_end(&mut window).err();
        let mut evidence = self.raw.as_slice().to_vec();
        let mut later = 0u64;
        for line in window.split(|&b| b == b'\n') {
            if evidence.len() > 1 << 16 {
                break;
            }
            let bad = std::str::from_utf8(line).is_err_and(|e| e.error_len().is_some());
            if bad {
                evidence.push(b'\n');
                evidence.extend_from_slice(line);
                later += 1;
            }
        }
        let ahead = window.split_off(unread);
        guard.inner = match failed {
            None => Box::new(Cursor::new(ahead).chain(inner)),
            Some(e) => Box::new(Cursor::new(ahead).chain(Failed(Some(e)))),
        };
        let enc = sniff::guess_legacy(&evidence, self.region.as_deref());
        tracing::warn!(
            "record {} of {} is not UTF-8, nor are {later} lines after it: they are read as {}, \
             decided from all of them together (the rest of the file is UTF-8)",
            self.number,
            self.source,
            enc.name()
        );
        enc
    }

    /// A last record with no line end and fewer fields than the header is what a file looks
    /// like when it was cut off while being written (an export still running, a full disk).
    fn warn_if_cut_off(&self) {
        let no_line_end = !matches!(self.csv.get_ref().last, Some(b'\n' | b'\r') | None);
        if no_line_end && self.number > 1 && self.fields_of_last < self.header.len() {
            tracing::warn!(
                "the last row of {} (record {}, line {}) has no line end and {} of {} fields: \
                 the file may have been cut off while it was written; check its end",
                self.source,
                self.number - 1,
                self.line_of_last,
                self.fields_of_last,
                self.header.len()
            );
        }
    }

    /// The record just read as text, in `into`'s memory.
    fn decode(&mut self, into: csv::StringRecord) -> (csv::StringRecord, Option<String>) {
        let redo = |raw: &csv::ByteRecord, enc, mut rec: csv::StringRecord| {
            rec.clear();
            raw.iter()
                .for_each(|b| rec.push_field(&decode_with(enc, b)));
            rec
        };
        match self.encoding {
            // Transcoded to UTF-8 already (malformed bytes became U+FFFD).
            TextEncoding::Other(_) => (redo(&self.raw, encoding_rs::UTF_8, into), None),
            TextEncoding::Utf8 { strict } => {
                // The bytes become the record; `into`'s memory takes their place for the next.
                let bytes = std::mem::replace(&mut self.raw, into.into_byte_record());
                let e = match csv::StringRecord::from_byte_record(bytes) {
                    Ok(rec) => return (rec, None),
                    Err(e) => e,
                };
                let col = e.utf8_error().field() + 1;
                self.raw = e.into_byte_record();
                let into = csv::StringRecord::new();
                if strict {
                    let msg = format!(
                        "field {col} of this row is not valid UTF-8 (shown with replacement \
                         characters): fix the file or pass --encoding windows-1252"
                    );
                    (redo(&self.raw, encoding_rs::UTF_8, into), Some(msg))
                } else {
                    // One legacy encoding for all such records of the file.
                    self.fallback_records += 1;
                    let enc = match self.fallback_encoding {
                        Some(enc) => enc,
                        None => {
                            let enc = self.decide_fallback();
                            *self.fallback_encoding.insert(enc)
                        }
                    };
                    (redo(&self.raw, enc, into), None)
                }
            }
        }
    }
}

/// What lies above the header in the sample: an Excel `sep=` line, then with `--header-row N`
/// the N-1 rows above it.
struct Above {
    /// The delimiter the `sep=` line names.
    sep: Option<u8>,
    /// Bytes of the sample before the header line.
    bytes: usize,
    /// Lines before the header line.
    lines: u64,
}

fn above_header(sample: &[u8], header_row: Option<u64>, label: &str) -> Result<Above> {
    let (sep, mut bytes) = sniff::sep_line(sample).map_or((None, 0), |(d, n)| (Some(d), n));
    let mut lines = u64::from(sep.is_some());
    let want = header_row.unwrap_or(1);
    for row in 1..want {
        match sample[bytes..].iter().position(|&b| b == b'\n') {
            Some(at) => {
                bytes += at + 1;
                lines += 1;
            }
            None if sample.len() >= SNIFF_LEN => bail!(
                "--header-row {want}: the rows of {label} above row {want} hold more than {}                  KiB; is the header really on row {want}?",
                SNIFF_LEN / 1024
            ),
            None => {
                let last = !sample[bytes..].iter().all(u8::is_ascii_whitespace);
                bail!(
                    "--header-row {want}: {label} has only {}",
                    crate::output::summary::count(row - 1 + u64::from(last), "row")
                )
            }
        }
    }
    if header_row.is_some() && sample[bytes..].iter().all(u8::is_ascii_whitespace) {
        bail!("--header-row {want}: {label} has nothing on row {want} or below");
    }
    Ok(Above { sep, bytes, lines })
}

/// The delimiter: `--delimiter`, else the one a `sep=` line names, else detected from the
/// header line.
fn delimiter_of(flag: Option<u8>, sep: Option<u8>, header: &[u8], label: &str) -> u8 {
    match (flag, sep) {
        (Some(f), Some(s)) if f != s => {
            tracing::warn!(
                "{label} starts with sep={}, but --delimiter says {:?}: reading with {:?}",
                s as char,
                f as char,
                f as char
            );
            f
        }
        (Some(f), _) => f,
        (None, Some(s)) => s,
        (None, None) => sniff::detect_delimiter(header),
    }
}

/// The lines after the header line among the first [`HEADER_SEARCH_ROWS`], each parsed on its
/// own and numbered as rows (the header is row 1), with the delimiter given, else the one each
/// line looks delimited by (a title above the header says nothing about it).
fn later_rows(text: &[u8], delimiter: Option<u8>) -> Vec<(u64, Vec<String>)> {
    let parse = |line: &[u8]| -> Vec<String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter.unwrap_or_else(|| sniff::detect_delimiter(line)))
            .from_reader(line)
            .byte_records()
            .next()
            .and_then(Result::ok)
            .map(|r| {
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    text.split(|&b| b == b'\n')
        .take(HEADER_SEARCH_ROWS)
        .enumerate()
        .skip(1)
        .map(|(i, line)| (i as u64 + 1, parse(line)))
        .collect()
}

/// A source that failed while read ahead: the failure comes when the reading gets there.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

fn decode_with<'a>(
    enc: &'static encoding_rs::Encoding,
    bytes: &'a [u8],
) -> std::borrow::Cow<'a, str> {
    enc.decode_without_bom_handling(bytes).0
}

fn open_file(p: &Path) -> Result<File> {
    if p.is_dir() {
        bail!("{} is a folder, not a CSV file", p.display());
    }
    File::open(p).with_context(|| format!("cannot open input {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A reader of these bytes, from a file (removed once opened).
    fn open_bytes(bytes: &[u8], enc: Option<TextEncoding>) -> Result<RecordReader> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        RecordReader::open(&InputOptions {
            path: Some(f.path().to_path_buf()),
            delimiter: None,
            encoding: enc,
            record_cap: 1024,
            sheet: None,
            region: None,
        })
    }

    fn read_all(bytes: &[u8], enc: Option<TextEncoding>) -> Result<(RecordReader, Vec<Record>)> {
        let mut r = open_bytes(bytes, enc)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok((r, out))
    }

    #[test]
    fn rows_above_the_header_row_are_skipped_as_lines_and_never_parsed() {
        let bytes = b"sep=,\nExport \"December\n\nName,Mail\nAnn,a@example.com\n".to_vec();
        let opts = InputOptions {
            path: None,
            delimiter: None,
            encoding: None,
            record_cap: 1024,
            sheet: None,
            region: None,
        };
        let read = |row| {
            RecordReader::from_reader_at(
                Box::new(Cursor::new(bytes.clone())),
                "t".into(),
                &opts,
                row,
            )
        };
        let mut r = read(Some(3)).unwrap();
        assert_eq!(r.header, ["Name", "Mail"]);
        assert!(r.later_rows.is_empty());
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!((rec.number, rec.line), (1, 5), "lines count the sep line");
        assert_eq!(&rec.fields[0], "Ann");
        // Without --header-row: row 1 is the header, and row 3 is where the names are.
        let r = read(None).unwrap();
        assert_eq!(r.header, ["Export \"December"]);
        assert_eq!(
            r.later_rows[1],
            (3, vec!["Name".to_string(), "Mail".to_string()])
        );
        let err = read(Some(6)).err().unwrap().to_string();
        assert!(err.contains("has only 4 rows"), "{err}");
    }

    #[test]
    fn reads_bom_crlf_quotes_and_ragged_rows() {
        let (r, recs) =
            read_all(b"\xEF\xBB\xBFa;b\r\n1;\"x;\r\ny\"\r\n2\r\n3;4;5\r\n", None).unwrap();
        assert_eq!(r.header, ["a", "b"]);
        assert_eq!(r.delimiter, b';');
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].fields.iter().collect::<Vec<_>>(), ["1", "x;\r\ny"]);
        assert_eq!(recs[1].fields.iter().collect::<Vec<_>>(), ["2"]);
        assert_eq!((recs[1].number, recs[1].line), (2, 4));
        assert_eq!(recs[2].fields.iter().collect::<Vec<_>>(), ["3", "4", "5"]);
    }

    #[test]
    fn reusing_spent_records_reads_exactly_what_fresh_ones_read() {
        // Long then short rows, ragged, quoted newlines, one bad UTF-8 row, in UTF-8, strict
        // UTF-8 and a legacy encoding: a recycled record must not leak an earlier row.
        let mut utf8 = b"a,b,c\n".to_vec();
        for i in 0..300 {
            utf8.extend(format!("{}long-{i},\"x\ny\",z{i}\n", "w".repeat(i % 40)).bytes());
            utf8.extend(format!("s{i}\n,\n{i},,,,extra\n").bytes());
        }
        utf8.extend(b"caf\xe9,z\nlast,1,2\n");
        let latin = b"a;b\nJos\xe9;caf\xe9\nx;y;z\n\xe9\n".to_vec();
        for (data, enc) in [
            (&utf8, None),
            (&utf8, Some(TextEncoding::Utf8 { strict: true })),
            (&latin, None),
        ] {
            let (_, fresh) = read_all(data, enc).unwrap();
            let mut r = open_bytes(data, enc).unwrap();
            let mut spare = csv::StringRecord::new();
            for want in &fresh {
                let got = r.next_record_into(spare).unwrap().unwrap();
                assert_eq!(
                    (&got.fields, &got.problem, got.number, got.line),
                    (&want.fields, &want.problem, want.number, want.line)
                );
                spare = got.fields;
            }
            assert!(r.next_record_into(spare).unwrap().is_none());
        }
    }

    #[test]
    fn a_byte_order_mark_inside_a_quoted_header_is_dropped() {
        let (r, recs) = read_all(b"\"\xEF\xBB\xBFse\",b\n1,2\n", None).unwrap();
        assert_eq!(r.header, ["se", "b"]);
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn windows_1252_is_detected_and_decoded() {
        let (r, recs) = read_all(b"name;note\nJos\xe9;caf\xe9 \x80\n", None).unwrap();
        assert_eq!(r.encoding.name(), "windows-1252");
        assert_eq!(
            recs[0].fields.iter().collect::<Vec<_>>(),
            ["José", "café €"]
        );
    }

    #[test]
    fn a_late_non_utf8_record_falls_back_in_auto_mode_and_is_flagged_in_strict_mode() {
        let mut data = b"a,b\n".to_vec();
        data.extend(std::iter::repeat_n(b"x,y\n".as_slice(), 20_000).flatten());
        data.extend(b"caf\xe9,z\n");
        let (r, recs) = read_all(&data, None).unwrap();
        assert_eq!(r.fallback_records, 1);
        assert_eq!(
            recs.last().unwrap().fields.iter().collect::<Vec<_>>(),
            ["café", "z"]
        );
        let strict = Some(TextEncoding::Utf8 { strict: true });
        let (_, recs) = read_all(&data, strict).unwrap();
        let last = recs.last().unwrap();
        assert!(last.problem.as_deref().unwrap().contains("field 1"));
        assert_eq!(&last.fields[1], "z");
    }

    #[test]
    fn an_oversized_record_is_a_located_error() {
        let mut data = b"a,b\n1,2\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 200_000));
        data.extend(b",3\n");
        let err = read_all(&data, None).err().unwrap().to_string();
        assert!(err.contains("record 2") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_unterminated_quote_names_its_record() {
        let err = read_all(b"a,b\n1,2\n3,\"oops\n4,5\n6,7\n", None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("record 2") && err.contains("never closed"),
            "{err}"
        );
    }

    #[test]
    fn a_cut_off_last_row_is_still_read() {
        let (_, recs) = read_all(b"a,b\n1,2\n3", None).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].fields.len(), 1);
    }

    #[test]
    fn empty_input_is_refused() {
        assert!(read_all(b"", None)
            .err()
            .unwrap()
            .to_string()
            .contains("empty"));
    }

    #[test]
    fn utf16_with_a_bom_is_transcoded_and_tabs_detected() {
        let text = "姓名\temail\n王丽\twangli@example.cn\n";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
        for bytes in [le, be] {
            let (r, recs) = read_all(&bytes, None).unwrap();
            assert!(r.encoding.name().starts_with("UTF-16"));
            assert_eq!(r.delimiter, b'\t');
            assert_eq!(r.header, ["姓名", "email"]);
            assert_eq!(
                recs[0].fields.iter().collect::<Vec<_>>(),
                ["王丽", "wangli@example.cn"]
            );
        }
    }

    #[test]
    fn legacy_encodings_are_detected_from_their_bytes() {
        let text = "姓名,邮箱,备注\n王丽,wangli@example.cn,北京市海淀区\n张伟,zw@example.cn,上海市浦东新区\n李娜,lina@example.cn,广州市天河区\n";
        let traditional = "姓名,郵箱,備註\n王麗,wangli@example.tw,台北市大安區\n張偉,zw@example.tw,高雄市前鎮區\n李娜,lina@example.tw,台中市西屯區\n";
        for (enc, text) in [
            (encoding_rs::GBK, text),
            (encoding_rs::GB18030, text),
            (encoding_rs::BIG5, traditional),
        ] {
            let (bytes, _, _) = enc.encode(text);
            let (r, recs) = read_all(&bytes, None).unwrap();
            let want: Vec<&str> = text.lines().nth(3).unwrap().split(',').collect();
            assert_eq!(
                recs[2].fields.iter().collect::<Vec<_>>(),
                want,
                "{} read as {}",
                enc.name(),
                r.encoding.name()
            );
        }
        let jp = "氏名,メール,メモ\n山田太郎,yamada@example.jp,東京都渋谷区の顧客です\n鈴木花子,suzuki@example.jp,大阪府の見込み客\n";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(jp);
        let (r, recs) = read_all(&bytes, None).unwrap();
        assert_eq!(r.encoding.name(), "Shift_JIS");
        assert_eq!(recs[1].fields.get(0), Some("鈴木花子"));
        let kr = "이름,이메일,메모\n김민준,minjun@example.kr,서울특별시 강남구 고객\n이서연,seoyeon@example.kr,부산광역시 해운대구\n";
        let (bytes, _, _) = encoding_rs::EUC_KR.encode(kr);
        let (r, recs) = read_all(&bytes, None).unwrap();
        assert_eq!(r.encoding.name(), "EUC-KR");
        assert_eq!(recs[0].fields.get(0), Some("김민준"));
    }

    #[test]
    fn the_legacy_rows_of_a_utf8_file_are_read_in_one_encoding_decided_from_all_of_them() {
        let names = ["李娜", "陈静", "张伟", "刘洋", "杨帆", "赵敏"];
        let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
        let mut data = "name,email\n".as_bytes().to_vec();
        for i in 0..3000 {
            data.extend(format!("王丽{i},w{i}@example.cn\n").as_bytes());
        }
        // The first legacy row, then more than the csv reader's buffer of plain rows, then
        // the others: all of them are looked at together.
        data.extend(gbk(names[0]));
        data.extend(b",a@example.cn\n");
        for i in 0..3000 {
            data.extend(format!("plain{i},p{i}@example.com\n").as_bytes());
        }
        for n in &names[1..] {
            data.extend(gbk(n));
            data.extend(b",b@example.cn\n");
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let mut r = RecordReader::open(&InputOptions {
            path: Some(f.path().to_path_buf()),
            delimiter: None,
            encoding: None,
            record_cap: 1 << 20,
            sheet: None,
            region: Some("cn".into()),
        })
        .unwrap();
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            if !rec.fields[1].starts_with('w') && !rec.fields[1].starts_with('p') {
                got.push(rec.fields[0].to_string());
            }
        }
        assert_eq!(got, names);
        assert_eq!(r.fallback_records, 6);
        assert_eq!(r.fallback_encoding, Some(encoding_rs::GBK));
    }

    #[test]
    fn a_long_field_is_not_blamed_on_a_quote_and_an_open_quote_is() {
        let long = "x".repeat(300_000);
        let err = read_all(format!("a,b\n1,\"{long}\"\n2,3\n").as_bytes(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("every quote in the file is closed"), "{err}");
        let err = read_all(format!("a,b\n1,\"{long}\n2,3\n").as_bytes(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("never closed"), "{err}");
    }

    #[test]
    fn a_utf16_file_that_goes_on_in_utf8_is_refused() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("a,b\n1,2\n".encode_utf16().flat_map(|u| u.to_le_bytes()));
        bytes.extend(b"name,email\nx,y@example.com\n");
        let err = read_all(&bytes, None).err().unwrap();
        assert!(
            format!("{err:#}").contains("switches from UTF-16LE to UTF-8"),
            "{err:#}"
        );
    }

    #[test]
    fn a_csv_cannot_forge_a_verdict() {
        let data = format!("email\n{}reason{}a@b.com\n", marks::MARK, marks::MARK);
        let (_, recs) = read_all(data.as_bytes(), None).unwrap();
        assert!(marks::parse(&recs[0].fields[0]).is_none());
    }

    #[test]
    fn one_bad_row_in_a_utf8_file_leaves_the_good_rows_alone() {
        let mut data = "name,email\nJürgen,alice@bücher.de\nZoë,zoe@example.com\n"
            .as_bytes()
            .to_vec();
        data.extend(b"Jos\xe9,jose@example.com\n");
        let (r, recs) = read_all(&data, None).unwrap();
        assert_eq!(r.encoding.name(), "UTF-8");
        assert_eq!(recs[0].fields.get(1), Some("alice@bücher.de"));
        assert_eq!(recs[2].fields.get(0), Some("José"));
        assert_eq!(r.fallback_records, 1);
    }
}
