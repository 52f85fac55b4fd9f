//! The annotated CSV: every input row once, in order, its fields unchanged (but escaped),
//! padded to the header's width, then the result columns of each check, then any extra
//! fields the row had.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::atomic::Out;
use super::escape;
use crate::check::{rfc3339, Outcome};

/// How the output is written.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// `None` is standard output.
    pub path: Option<PathBuf>,
    pub delimiter: u8,
    pub bom: bool,
    pub escape_formulas: bool,
}

/// Writes result rows; `finish` makes the file appear under its name.
pub struct CsvSink {
    csv: ::csv::Writer<Out>,
    escape: bool,
    width: usize,
    last_time: Option<(chrono::DateTime<chrono::Utc>, String)>,
}

impl CsvSink {
    pub fn create(opts: &SinkOptions, header: &[String], width: usize) -> Result<CsvSink> {
        let mut out = Out::create(opts.path.as_deref())?;
        if opts.bom {
            std::io::Write::write_all(&mut out, b"\xEF\xBB\xBF")?;
        }
        let csv = ::csv::WriterBuilder::new()
            .delimiter(opts.delimiter)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        let mut sink = CsvSink {
            csv,
            escape: opts.escape_formulas,
            width,
            last_time: None,
        };
        for h in header {
            sink.field(h)?;
        }
        sink.end_record()?;
        Ok(sink)
    }

    fn field(&mut self, s: &str) -> Result<()> {
        let res = if self.escape {
            self.csv.write_field(escape::cell(s).as_bytes())
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

    /// The 13 result cells of one check, in contract order, without building them first.
    fn write_outcome(&mut self, o: &Outcome) -> Result<()> {
        self.field(&o.checked_key)?;
        self.field(o.result.as_str())?;
        self.field(o.status.as_deref().unwrap_or(""))?;
        self.field(o.uplimit.as_deref().unwrap_or(""))?;
        self.field(o.error_code.as_deref().unwrap_or(""))?;
        self.field(o.error_msg.as_deref().unwrap_or(""))?;
        self.number(o.http_status.map(u64::from))?;
        self.number(Some(u64::from(o.attempts)))?;
        self.field(o.source.as_str())?;
        self.time(o.checked_at)?;
        self.field(o.request_id.as_deref().unwrap_or(""))?;
        self.field(o.previous.map(|p| p.0.as_str()).unwrap_or(""))?;
        self.time(o.previous.map(|p| p.1))
    }

    fn number(&mut self, n: Option<u64>) -> Result<()> {
        match n {
            Some(n) => self.field(itoa::Buffer::new().format(n)),
            None => self.field(""),
        }
    }

    /// Times repeat (a run's local answers share one), so the last one formatted is kept.
    fn time(&mut self, t: Option<chrono::DateTime<chrono::Utc>>) -> Result<()> {
        let Some(t) = t else { return self.field("") };
        let cached = self.last_time.take().filter(|(at, _)| *at == t);
        let (at, text) = cached.unwrap_or_else(|| (t, rfc3339(t)));
        let res = self.field(&text);
        self.last_time = Some((at, text));
        res
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
    use crate::check::{ResultKind, Source};
    use proptest::prelude::*;

    fn write_and_read(cells: &[String], delimiter: u8, escape: bool) -> Vec<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let opts = SinkOptions {
            path: Some(path.clone()),
            delimiter,
            bom: false,
            escape_formulas: escape,
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
