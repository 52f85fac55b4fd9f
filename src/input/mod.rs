//! Reading lead lists: byte-level sniffing (BOM, encoding, delimiter) and a streaming record
//! reader with limits ([`reader`]), then turning each row into checks ([`mapping`]).
//! Workbooks are converted to CSV text first ([`workbook`]); a cell whose verdict is known
//! before its value is read (a formula with no saved value, a value a previous run found
//! mangled) travels as a marked cell ([`marks`]).

mod mangled;
pub mod mapping;
pub mod marks;
pub mod reader;
pub mod sniff;
mod switch;
pub mod workbook;

pub use mapping::{CheckSpec, Layout};
pub use reader::{InputOptions, Record, RecordReader};

use anyhow::Result;

use crate::model::{CheckType, Local};

/// A record with its checks normalized: what the reading stage hands on.
pub struct Row {
    pub number: u64,
    pub fields: csv::StringRecord,
    pub checks: Vec<(CheckType, Local)>,
    /// Line where the record starts, for messages.
    pub line: u64,
}

/// Where a consumer gives spent batches back, so that the reading thread reuses their memory
/// (no allocation per row, and no frees on another thread, which are slow). Optional:
/// batches never given back are simply dropped.
pub struct Recycle(std::sync::mpsc::Sender<Vec<Row>>);

impl Recycle {
    pub fn give(&self, spent: Vec<Row>) {
        // The reader may have finished; then the batch is freed here.
        let _ = self.0.send(spent);
    }
}

/// Reads and normalizes on a thread of its own, handing rows on in batches of `batch`;
/// `emit` returns false when nobody listens any more. The thread returns how many records
/// were read as Windows-1252 after failing as UTF-8.
pub fn spawn_reader(
    mut reader: RecordReader,
    layout: Layout,
    batch: usize,
    mut emit: impl FnMut(Vec<Row>) -> bool + Send + 'static,
) -> (std::thread::JoinHandle<Result<u64>>, Recycle) {
    let (give, spent) = std::sync::mpsc::channel::<Vec<Row>>();
    let reading = std::thread::spawn(move || {
        let mut rows = Vec::with_capacity(batch);
        let mut pool: Vec<Row> = Vec::new();
        loop {
            if pool.is_empty() {
                spent.try_iter().for_each(|b| pool.extend(b));
            }
            let (fields, mut checks) = match pool.pop() {
                Some(old) => (old.fields, old.checks),
                None => (csv::StringRecord::new(), Vec::new()),
            };
            let Some(rec) = reader.next_record_into(fields)? else {
                break;
            };
            let mut fields = layout.project(rec.fields);
            layout.checks_into(&fields, rec.problem.as_deref(), &mut checks);
            marks::present(&mut fields);
            rows.push(Row {
                number: rec.number,
                fields,
                checks,
                line: rec.line,
            });
            if rows.len() >= batch && !emit(std::mem::replace(&mut rows, Vec::with_capacity(batch)))
            {
                return Ok(reader.fallback_records);
            }
        }
        if !rows.is_empty() {
            emit(rows);
        }
        Ok(reader.fallback_records)
    });
    (reading, Recycle(give))
}

/// An input ready to be read, with its layout.
pub struct Input {
    pub reader: RecordReader,
    pub layout: Layout,
}
