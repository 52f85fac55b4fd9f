//! Arbitrary bytes as a workbook file (xlsx, xls, ods are told apart by content): converting
//! it gives CSV text or an error, and nothing else. A panic inside `calamine` is caught and
//! becomes an error (so a crash here is a panic outside that net, an abort, or an allocation
//! past the limit); run it with `-rss_limit_mb=256` (the bound `input::workbook::limits` keeps)
//! and a `-timeout` so that bombs and loops are found too:
//!
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none workbook corpus/workbook seeds-workbook
//!  -- -rss_limit_mb=256 -timeout=20 -max_total_time=600`

#![no_main]

use checkuser::input::workbook;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    let path = dir.path().join("book");
    std::fs::write(&path, data).unwrap();
    if !workbook::is_workbook(&path) {
        return;
    }
    let Ok(book) = workbook::convert(&path, None) else {
        return;
    };
    // What the conversion wrote is CSV that reads back record by record.
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(book.file);
    for rec in r.records() {
        rec.expect("the converted text is CSV");
    }
});
