//! Reading lead lists: byte-level sniffing (BOM, encoding, delimiter) and a streaming record
//! reader with limits ([`reader`]), then turning each row into checks ([`mapping`]).

pub mod mapping;
pub mod reader;
pub mod sniff;

pub use mapping::{CheckSpec, Layout};
pub use reader::{InputOptions, Record, RecordReader};
