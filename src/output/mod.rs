//! Everything that leaves the program as results: the annotated CSV (written atomically),
//! formula escaping, the summary, and the progress display.

pub mod atomic;
pub mod csv;
pub mod escape;
pub mod progress;
pub mod summary;

pub use self::csv::{CsvSink, SinkOptions};
pub use summary::Summary;
