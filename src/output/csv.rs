//! The annotated CSV: every input row once, in order, its fields unchanged (but escaped),
//! padded to the header's width, then the result columns of each check, then any extra
//! fields the row had.

use anyhow::{Context, Result};

use super::atomic::Out;
use super::cells::{result_cells, Cell, TimeText};
use super::escape;
use super::SinkOptions;
use crate::model::Outcome;

/// Whether a CSV starts with a UTF-8 byte-order mark: as asked (`--bom`, `--no-bom`), else
/// only when it goes to a file (`None` is standard output). Excel and LibreOffice read a CSV
/// opened by double-click as UTF-8 only when it has the mark, and in the system's legacy code
/// page (GBK on Chinese Windows) otherwise; a program reading a pipe expects plain UTF-8, and
/// standard output, a FIFO or a device are pipes or terminals.
pub fn wants_bom(asked: Option<bool>, path: Option<&std::path::Path>) -> bool {
    asked.unwrap_or_else(|| path.is_some_and(|p| !super::atomic::is_special(p)))
}

/// Opens where a CSV goes (`None`: standard output) and starts it with the byte-order mark if
/// `bom` (decided by [`wants_bom`]). Every CSV checkuser writes starts here.
pub fn create(path: Option<&std::path::Path>, bom: bool) -> Result<Out> {
    let mut out = Out::create(path)?;
    if bom {
        std::io::Write::write_all(&mut out, b"\xEF\xBB\xBF")?;
    }
    Ok(out)
}

/// Writes result rows; `finish` makes the file appear under its name.
pub struct CsvSink {
    csv: ::csv::Writer<Out>,
    escape: bool,
    escaped: String,
    width: usize,
    times: TimeText,
    /// The result cells written, by index (`--columns`).
    kept: &'static [usize],
}

impl CsvSink {
    pub fn create(opts: &SinkOptions, header: &[String], width: usize) -> Result<CsvSink> {
        let out = create(opts.path.as_deref(), opts.bom)?;
        let csv = ::csv::WriterBuilder::new()
            .delimiter(opts.delimiter)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        let mut sink = CsvSink {
            csv,
            escape: opts.escape_formulas,
            escaped: String::new(),
            width,
            times: TimeText::default(),
            kept: &crate::model::ALL_RESULTS,
        };
        for h in header {
            sink.field(h)?;
        }
        sink.end_record()?;
        Ok(sink)
    }

    /// Writes only these result cells of each check (indexes into the 13).
    pub fn keeping(mut self, kept: &'static [usize]) -> CsvSink {
        self.kept = kept;
        self
    }

    fn field(&mut self, s: &str) -> Result<()> {
        let res = if self.escape && escape::needs_escape(s) {
            // What `escape::cell` makes, in a reused buffer.
            self.escaped.clear();
            self.escaped.push('\'');
            self.escaped.push_str(s);
            self.csv.write_field(&self.escaped)
        } else {
            self.csv.write_field(s)
        };
        res.context("cannot write the output")
    }

    fn end_record(&mut self) -> Result<()> {
        self.csv
            .write_record(None::<&[u8]>)
            .context("cannot write the output")
    }

    /// Writes one row: input fields, padding, result columns, extra fields.
    pub fn write_row(&mut self, fields: &::csv::StringRecord, outcomes: &[Outcome]) -> Result<()> {
        for i in 0..self.width {
            self.field(fields.get(i).unwrap_or(""))?;
        }
        for o in outcomes {
            self.write_outcome(o)?;
        }
        for extra in fields.iter().skip(self.width) {
            self.field(extra)?;
        }
        self.end_record()
    }

    /// The result cells of one check that are kept, in contract order.
    fn write_outcome(&mut self, o: &Outcome) -> Result<()> {
        let cells = result_cells(o);
        for cell in self.kept.iter().map(|&i| cells[i]) {
            match cell {
                Cell::Text(t) => self.field(t)?,
                Cell::Number(n) => self.field(itoa::Buffer::new().format(n))?,
                Cell::Time(t) => {
                    let mut times = std::mem::take(&mut self.times);
                    let res = self.field(times.get(t));
                    self.times = times;
                    res?
                }
                Cell::Empty => self.field("")?,
            }
        }
        Ok(())
    }

    /// Flushes and moves the file into place.
    pub fn finish(self) -> Result<()> {
        let out = self
            .csv
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write the output: {}", e.error()))?;
        out.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResultKind, Source};
    use proptest::prelude::*;

    fn write_and_read(cells: &[String], delimiter: u8, escape: bool) -> Vec<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let opts = SinkOptions {
            path: Some(path.clone()),
            delimiter,
            bom: false,
            escape_formulas: escape,
            format: crate::output::Format::Csv,
            changes_sheet: false,
        };
        let mut sink = CsvSink::create(&opts, &["h".to_string()], 1).unwrap();
        for c in cells {
            sink.write_row(&::csv::StringRecord::from(vec![c.as_str()]), &[])
                .unwrap();
        }
        sink.finish().unwrap();
        let mut r = ::csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .from_path(&path)
            .unwrap();
        r.records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect()
    }

    #[test]
    fn rows_are_padded_and_extras_follow_the_result_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let opts = SinkOptions {
            path: Some(path.clone()),
            delimiter: b';',
            bom: true,
            escape_formulas: true,
            format: crate::output::Format::Csv,
            changes_sheet: false,
        };
        let header: Vec<String> = vec!["a".into(), "b".into(), "result".into()];
        let mut sink = CsvSink::create(&opts, &header, 2).unwrap();
        let o = Outcome::new("x@y.zz", ResultKind::Valid, Source::None);
        sink.write_row(
            &::csv::StringRecord::from(vec!["=1"]),
            std::slice::from_ref(&o),
        )
        .unwrap();
        sink.write_row(&::csv::StringRecord::from(vec!["1", "2", "3"]), &[o])
            .unwrap();
        assert!(!path.exists(), "nothing appears before finish");
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), "\u{feff}a;b;result");
        assert_eq!(lines.next().unwrap(), "'=1;;x@y.zz;valid;;;;;;0;none;;;;");
        assert_eq!(lines.next().unwrap(), "1;2;x@y.zz;valid;;;;;;0;none;;;;;3");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn write_then_read_round_trips_any_string(cells in proptest::collection::vec(".*", 1..8), d in 0usize..4) {
            let delimiter = crate::input::sniff::CANDIDATES[d];
            let back = write_and_read(&cells, delimiter, false);
            let got: Vec<String> = back.into_iter().map(|mut r| r.remove(0)).collect();
            prop_assert_eq!(got, cells);
        }
    }
}
