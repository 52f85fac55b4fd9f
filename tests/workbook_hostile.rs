//! Hostile and odd workbooks, text encodings that switch inside a file, and a previous output
//! that went through a spreadsheet: each is refused with an error that names its cause, or read
//! right; nothing panics, aborts or takes more than 256 MB.
//!
//! The workbooks are built here byte by byte (a small ZIP writer and a deflate stream of one long
//! run), so a bomb of hundreds of MiB costs a few hundred KiB to make.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Building workbooks

/// One ZIP entry: its name and its bytes, stored or as a raw deflate stream.
struct Entry {
    name: String,
    data: Vec<u8>,
    /// (uncompressed size, CRC-32) when `data` is a deflate stream.
    deflated: Option<(u64, u32)>,
}

fn stored(name: &str, data: impl Into<Vec<u8>>) -> Entry {
    Entry {
        name: name.into(),
        data: data.into(),
        deflated: None,
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ZIP archive of these entries (no ZIP64: every size here fits 32 bits).
fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let (method, size, crc) = match e.deflated {
            Some((size, crc)) => (8u16, size, crc),
            None => (0, e.data.len() as u64, crc32(&e.data)),
        };
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend(20u16.to_le_bytes()); // version needed
            v.extend(0u16.to_le_bytes()); // flags
            v.extend(method.to_le_bytes());
            v.extend([0, 0, 0x21, 0]); // time, date (1980-01-01)
            v.extend(crc.to_le_bytes());
            v.extend((e.data.len() as u32).to_le_bytes());
            v.extend((size as u32).to_le_bytes());
            v.extend((e.name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes()); // extra length
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend(e.name.as_bytes());
        out.extend(&e.data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend([0u8; 6]); // comment length, disk, internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(e.name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// A deflate stream (fixed Huffman codes) of `prefix`, then `run` copies of `byte`, then
/// `suffix`: 13 bits per 258 bytes of the run, so 256 MiB cost about 1.6 MiB.
fn deflate_run(name: &str, prefix: &[u8], byte: u8, run: u64, suffix: &[u8]) -> Entry {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code goes out most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let rev = code.reverse_bits() >> (32 - len);
            self.put(u64::from(rev), len);
        }
        fn literal(&mut self, b: u8) {
            if b < 144 {
                self.code(0x30 + u32::from(b), 8);
            } else {
                self.code(0x190 + u32::from(b) - 144, 9);
            }
        }
    }
    let mut w = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    w.put(1, 1); // last block
    w.put(1, 2); // fixed codes
    prefix.iter().for_each(|&b| w.literal(b));
    if run > 0 {
        w.literal(byte);
        let rest = run - 1;
        for _ in 0..rest / 258 {
            w.code(0b1100_0101, 8); // length 258
            w.code(0, 5); // distance 1
        }
        (0..rest % 258).for_each(|_| w.literal(byte));
    }
    suffix.iter().for_each(|&b| w.literal(b));
    w.code(0, 7); // end of block
    w.put(0, 7);
    let size = prefix.len() as u64 + run + suffix.len() as u64;
    Entry {
        name: name.into(),
        data: w.out,
        // The CRC is not worked out for a run: a bomb is refused before its end is read.
        deflated: Some((size, 0)),
    }
}

const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

/// The parts every xlsx needs, for sheets `names` at `xl/worksheets/sheetN.xml`.
fn xlsx_frame(names: &[&str], states: &[&str]) -> Vec<Entry> {
    let rel = |id: usize, typ: &str, target: &str| {
        format!(
            r#"<Relationship Id="rId{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{typ}" Target="{target}"/>"#
        )
    };
    let mut sheets = String::new();
    let mut rels = String::new();
    for (i, n) in names.iter().enumerate() {
        let state = states
            .get(i)
            .map_or(String::new(), |s| format!(r#" state="{s}""#));
        sheets.push_str(&format!(
            r#"<sheet name="{n}" sheetId="{}"{state} r:id="rId{}"/>"#,
            i + 1,
            i + 1
        ));
        rels.push_str(&rel(
            i + 1,
            "worksheet",
            &format!("worksheets/sheet{}.xml", i + 1),
        ));
    }
    rels.push_str(&rel(names.len() + 1, "sharedStrings", "sharedStrings.xml"));
    vec![
        stored(
            "[Content_Types].xml",
            r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>"#,
        ),
        stored(
            "_rels/.rels",
            format!(
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>"#,
                rel(1, "officeDocument", "xl/workbook.xml")
            ),
        ),
        stored(
            "xl/workbook.xml",
            format!(r#"<?xml version="1.0"?><workbook {NS}><sheets>{sheets}</sheets></workbook>"#),
        ),
        stored(
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        ),
    ]
}

fn sheet_xml(rows: &str) -> String {
    format!(r#"<?xml version="1.0"?><worksheet {NS}><sheetData>{rows}</sheetData></worksheet>"#)
}

/// An inline-string cell.
fn is(at: &str, text: &str) -> String {
    format!(r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// A one-sheet xlsx (`Leads`) with these rows, and a shared-strings part if given.
fn xlsx(rows: &str, sst: Option<Entry>) -> Vec<u8> {
    let mut parts = xlsx_frame(&["Leads"], &[]);
    parts.push(stored("xl/worksheets/sheet1.xml", sheet_xml(rows)));
    parts.extend(sst);
    zip(&parts)
}

const HEADER_ROW: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c><c r="B1" t="inlineStr"><is><t>Email</t></is></c></row>"#;

const ODS_MIME: &str = "application/vnd.oasis.opendocument.spreadsheet";

/// An ods with this `content.xml` body (inside `office:spreadsheet`).
fn ods_with(content: Entry) -> Vec<u8> {
    zip(&[
        stored("mimetype", ODS_MIME),
        stored(
            "META-INF/manifest.xml",
            r#"<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>"#,
        ),
        content,
    ])
}

const ODS_HEAD: &str = r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2"><office:body><office:spreadsheet>"#;
const ODS_TAIL: &str = "</office:spreadsheet></office:body></office:document-content>";

fn ods(tables: &str) -> Vec<u8> {
    ods_with(stored(
        "content.xml",
        format!("{ODS_HEAD}{tables}{ODS_TAIL}"),
    ))
}

fn ods_cell(text: &str) -> String {
    format!(
        r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#
    )
}

fn ods_leads(rows: &[[&str; 2]]) -> String {
    let mut t = String::from(r#"<table:table table:name="Leads">"#);
    for r in std::iter::once(&["Name", "Email"]).chain(rows) {
        t.push_str("<table:table-row>");
        r.iter().for_each(|c| t.push_str(&ods_cell(c)));
        t.push_str("</table:table-row>");
    }
    t.push_str("</table:table>");
    t
}

// ---------------------------------------------------------------------------------------------
// Running

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `validate FILE --check email=Email -o out.csv` and any extra flags.
fn validate(fx: &Fixture, file: &Path, extra: &[&str]) -> Output {
    let out = fx.path("out.csv");
    let mut args = vec![
        "validate",
        file.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--summary-json",
    ];
    let summary = fx.path("summary.json");
    args.push(summary.to_str().unwrap());
    if !extra.contains(&"--check") {
        args.extend(["--check", "email=Email"]);
    }
    args.extend(extra);
    run_measured(fx.dir.path(), &args)
}

thread_local! {
    /// The largest peak RSS, in MB, of the runs this test (its own thread) made.
    static PEAK_MB: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Starts the binary from a small Python process and reports its peak RSS: a process started
/// from this (large, many-test) process carries this process's own high-water mark into its
/// `ru_maxrss` at `exec`, so the measuring parent must be small.
const MEASURE: &str = "import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write('\\nCHECKUSER_TEST_MAXRSS_KB=%d\\n' % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) % 256)";

/// Runs the binary (as `bin` sets it up) and keeps its own peak RSS for this test's thread.
fn run_measured(home: &Path, args: &[&str]) -> Output {
    let real = bin(home);
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", MEASURE]).arg(real.get_program()).args(args);
    for (k, v) in real.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(dir) = real.get_current_dir() {
        cmd.current_dir(dir);
    }
    let mut out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("python3 runs the binary to measure its memory (apt-get install python3)");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let (before, kb) = text
        .rsplit_once("\nCHECKUSER_TEST_MAXRSS_KB=")
        .expect("the measuring parent reports the peak");
    let kb: u64 = kb.trim().parse().unwrap();
    PEAK_MB.with(|p| p.set(p.get().max(kb / 1024)));
    out.stderr = before.as_bytes().to_vec();
    out
}

/// The run failed the way a bad input should: exit 2, no panic, and a message with all `words`.
#[track_caller]
fn refused(out: &Output, words: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    err
}

#[track_caller]
fn read_ok(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

fn out_rows(fx: &Fixture) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&fx.path("out.csv"), b',')
}

#[track_caller]
fn assert_rss_below_256_mb() {
    let mb = PEAK_MB.with(|p| p.get());
    assert!(mb > 0, "no run measured");
    assert!(mb < 256, "a checkuser run took {mb} MB");
}

// ---------------------------------------------------------------------------------------------
// 3. Hostile and odd workbooks

#[test]
fn a_truncated_xls_is_an_error_not_a_panic() {
    let fx = Fixture::new();
    let whole = std::fs::read(fixture("leads.xls")).unwrap();
    let out = validate(&fx, &fixture("leads.xls"), &[]);
    read_ok(&out);
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "Email")[0], "ann@example.com");
    assert_eq!(column(&h, &rows, "Phone")[1], "8613900139000");
    // A file still being copied: cut anywhere.
    for cut in [600, 2048, 4096, 9000, 15_000, 21_000, whole.len() - 1] {
        let part = fx.file("part.xls", &whole[..cut]);
        let out = validate(&fx, &part, &[]);
        refused(&out, &["part.xls"]);
    }
}

#[test]
fn a_workbook_spanning_a_huge_empty_range_is_refused_within_the_memory_bound() {
    let fx = Fixture::new();
    let out = validate(&fx, &fixture("corners.xls"), &[]);
    refused(&out, &["Corners", "IV65536", "MiB"]);
    assert_rss_below_256_mb();
}

#[test]
fn a_shared_string_bomb_is_refused_naming_the_limit() {
    let fx = Fixture::new();
    // 300 MiB of one shared string, in a file of about 2 MiB.
    let sst = deflate_run(
        "xl/sharedStrings.xml",
        format!(r#"<?xml version="1.0"?><sst {NS} count="1" uniqueCount="1"><si><t>"#).as_bytes(),
        b'a',
        300 << 20,
        b"</t></si></sst>",
    );
    let rows = format!(
        r#"{HEADER_ROW}<row r="2"><c r="A2" t="s"><v>0</v></c>{}</row>"#,
        is("B2", "a@example.com")
    );
    let book = fx.file("bomb.xlsx", xlsx(&rows, Some(sst)));
    assert!(std::fs::metadata(&book).unwrap().len() < 3 << 20);
    let out = validate(&fx, &book, &[]);
    refused(&out, &["sharedStrings.xml", "MiB"]);
    assert_rss_below_256_mb();
}

#[test]
fn a_part_that_inflates_past_what_its_header_says_is_still_bounded() {
    let fx = Fixture::new();
    let mut sst = deflate_run(
        "xl/sharedStrings.xml",
        format!(r#"<?xml version="1.0"?><sst {NS}><si><t>"#).as_bytes(),
        b'a',
        200 << 20,
        b"</t></si></sst>",
    );
    sst.deflated = Some((1000, 0)); // the header lies
    let book = fx.file("liar.xlsx", xlsx(HEADER_ROW, Some(sst)));
    let out = validate(&fx, &book, &[]);
    refused(&out, &["sharedStrings.xml"]);
    assert_rss_below_256_mb();
}

#[test]
fn a_declared_shared_string_count_is_not_trusted() {
    let fx = Fixture::new();
    let sst = stored(
        "xl/sharedStrings.xml",
        format!(
            r#"<?xml version="1.0"?><sst {NS} count="1" uniqueCount="4000000000"><si><t>Ann</t></si></sst>"#
        ),
    );
    let book = fx.file("count.xlsx", xlsx(HEADER_ROW, Some(sst)));
    refused(
        &validate(&fx, &book, &[]),
        &["4000000000", "shared strings"],
    );
}

#[test]
fn a_huge_cell_is_refused_naming_the_cell_not_a_quote() {
    let fx = Fixture::new();
    let big = "x".repeat(2 << 20);
    let rows = format!(
        r#"{HEADER_ROW}<row r="2">{}{}</row>"#,
        is("A2", "Ann"),
        is("B2", &big)
    );
    let out = validate(&fx, &fx.file("big.xlsx", xlsx(&rows, None)), &[]);
    let err = refused(&out, &["B2", "KiB"]);
    assert!(!err.contains("quote"), "{err}");
    // One cell of a million small runs of rich text is as big.
    let runs = "<r><t>xx</t></r>".repeat(1 << 20);
    let rows =
        format!(r#"{HEADER_ROW}<row r="2"><c r="B2" t="inlineStr"><is>{runs}</is></c></row>"#);
    let out = validate(&fx, &fx.file("runs.xlsx", xlsx(&rows, None)), &[]);
    refused(&out, &["B2", "KiB"]);
    // A CSV field of 2 MB with its quotes closed is a big field, not an unclosed quote.
    let csv = fx.file(
        "big.csv",
        format!("Name,Email\nAnn,\"{big}\"\nBob,b@example.com\n"),
    );
    let err = refused(&validate(&fx, &csv, &[]), &["record 1", "KiB"]);
    assert!(!err.contains("never closed"), "{err}");
}

#[test]
fn an_xml_node_without_end_is_bounded() {
    let fx = Fixture::new();
    // 400 MiB of text with no '<' in the sheet itself.
    let mut parts = xlsx_frame(&["Leads"], &[]);
    parts.push(deflate_run(
        "xl/worksheets/sheet1.xml",
        format!(
            r#"<?xml version="1.0"?><worksheet {NS}><sheetData>{HEADER_ROW}<row r="2"><c r="B2" t="inlineStr"><is><t>"#
        )
        .as_bytes(),
        b'y',
        400 << 20,
        b"</t></is></c></row></sheetData></worksheet>",
    ));
    let out = validate(&fx, &fx.file("node.xlsx", zip(&parts)), &[]);
    refused(&out, &["MiB"]);
    assert_rss_below_256_mb();
}

#[test]
fn an_ods_of_repeated_cells_is_refused_naming_the_limit() {
    let fx = Fixture::new();
    // A row of 16,384 filled cells, repeated a million times: 849 bytes of XML.
    let table = format!(
        r#"<table:table table:name="Leads"><table:table-row>{}{}</table:table-row><table:table-row table:number-rows-repeated="1000000"><table:table-cell table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table>"#,
        ods_cell("Name"),
        ods_cell("Email")
    );
    let book = fx.file("rep.ods", ods(&table));
    let out = validate(&fx, &book, &[]);
    refused(&out, &["Leads", "cells", "MiB"]);
    // Spaces by the billion in one cell.
    let table = format!(
        r#"<table:table table:name="Leads"><table:table-row>{}{}</table:table-row><table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="1000000000"/>b</text:p></table:table-cell></table:table-row></table:table>"#,
        ods_cell("Name"),
        ods_cell("Email")
    );
    let out = validate(&fx, &fx.file("spaces.ods", ods(&table)), &[]);
    refused(&out, &["Leads", "KiB"]);
    assert_rss_below_256_mb();
}

#[test]
fn an_ordinary_ods_with_libreoffice_trailing_repeats_is_read() {
    let fx = Fixture::new();
    // LibreOffice ends every sheet with empty repeated rows and columns up to its limits.
    let table = ods_leads(&[["Ann", "ann@example.com"]]).replace(
        "</table:table>",
        r#"<table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>"#,
    );
    let table = table.replace(
        r#"<table:table table:name="Leads">"#,
        r#"<table:table table:name="Leads"><table:table-column table:number-columns-repeated="1024"/>"#,
    );
    let out = validate(&fx, &fx.file("lo.ods", ods(&table)), &[]);
    read_ok(&out);
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "email_result"), ["valid"]);
}

#[test]
fn cells_outside_a_worksheet_and_too_many_entries_are_refused() {
    let fx = Fixture::new();
    let rows = format!(r#"{HEADER_ROW}<row r="2">{}</row>"#, is("XFE2", "x"));
    let out = validate(&fx, &fx.file("wide.xlsx", xlsx(&rows, None)), &[]);
    refused(&out, &["XFE2", "16,384"]);
    let rows = format!(
        r#"{HEADER_ROW}<row r="2000000">{}</row>"#,
        is("A2000000", "x")
    );
    let out = validate(&fx, &fx.file("tall.xlsx", xlsx(&rows, None)), &[]);
    refused(&out, &["2000000", "1,048,576"]);
    let mut parts = xlsx_frame(&["Leads"], &[]);
    parts.push(stored("xl/worksheets/sheet1.xml", sheet_xml(HEADER_ROW)));
    parts.extend((0..10_001).map(|i| stored(&format!("junk/{i}"), "")));
    let out = validate(&fx, &fx.file("many.xlsx", zip(&parts)), &[]);
    refused(&out, &["10,000", "entries"]);
}

#[test]
fn the_first_visible_sheet_is_read_and_the_hidden_one_named() {
    let fx = Fixture::new();
    let mut parts = xlsx_frame(&["Old", "Leads"], &["hidden"]);
    let old = format!(
        r#"{HEADER_ROW}<row r="2">{}</row>"#,
        is("B2", "old@example.com")
    );
    let new = format!(
        r#"{HEADER_ROW}<row r="2">{}</row>"#,
        is("B2", "new@example.com")
    );
    parts.push(stored("xl/worksheets/sheet1.xml", sheet_xml(&old)));
    parts.push(stored("xl/worksheets/sheet2.xml", sheet_xml(&new)));
    let book = fx.file("hidden.xlsx", zip(&parts));
    let err = read_ok(&validate(&fx, &book, &[]));
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "Email"), ["new@example.com"]);
    assert!(err.contains("'Old'") && err.contains("hidden"), "{err}");
    // Asked for, the hidden sheet is read.
    read_ok(&validate(&fx, &book, &["--sheet", "Old"]));
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "Email"), ["old@example.com"]);
}

#[test]
fn a_continuation_sheet_is_joined_only_if_its_header_matches() {
    let fx = Fixture::new();
    let mut parts = xlsx_frame(&["Results", "Results 2", "Results 3"], &[]);
    let same = |email: &str| format!(r#"{HEADER_ROW}<row r="2">{}</row>"#, is("B2", email));
    let other = format!(
        r#"<row r="1">{}{}</row><row r="2">{}{}</row>"#,
        is("A1", "searchType"),
        is("B1", "phone"),
        is("A2", "x"),
        is("B2", "+86 138 0013 8000")
    );
    parts.push(stored(
        "xl/worksheets/sheet1.xml",
        sheet_xml(&same("a@example.com")),
    ));
    parts.push(stored("xl/worksheets/sheet2.xml", sheet_xml(&other)));
    parts.push(stored(
        "xl/worksheets/sheet3.xml",
        sheet_xml(&same("c@example.com")),
    ));
    let book = fx.file("split.xlsx", zip(&parts));
    let err = read_ok(&validate(&fx, &book, &[]));
    let (h, rows) = out_rows(&fx);
    assert_eq!(
        column(&h, &rows, "Email"),
        ["a@example.com", "c@example.com"]
    );
    assert!(
        err.contains("'Results 2'") && err.contains("header"),
        "{err}"
    );
}

#[test]
fn a_formula_without_a_saved_value_is_invalid_and_counted() {
    let fx = Fixture::new();
    let rows = format!(
        r#"{HEADER_ROW}<row r="2">{}<c r="B2" t="str"><f>CONCAT(LOWER(A2),"@example.com")</f></c></row><row r="3">{}{}</row>"#,
        is("A2", "Ann"),
        is("A3", "Bob"),
        is("B3", "bob@example.com")
    );
    let book = fx.file("formula.xlsx", xlsx(&rows, None));
    let err = read_ok(&validate(&fx, &book, &[]));
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "email_result"), ["invalid", "valid"]);
    let msg = &column(&h, &rows, "email_error_msg")[0];
    assert!(
        msg.contains("formula") && msg.contains("CONCAT(LOWER(A2)"),
        "{msg}"
    );
    assert!(column(&h, &rows, "Email")[0].contains("CONCAT"));
    assert!(err.contains("1 cell") && err.contains("formula"), "{err}");
    // The same in an ods.
    let table = format!(
        r#"<table:table table:name="Leads"><table:table-row>{}{}</table:table-row><table:table-row>{}<table:table-cell table:formula="of:=CONCAT([.A2];&quot;@example.com&quot;)"/></table:table-row></table:table>"#,
        ods_cell("Name"),
        ods_cell("Email"),
        ods_cell("Ann")
    );
    read_ok(&validate(&fx, &fx.file("formula.ods", ods(&table)), &[]));
    let (h, rows) = out_rows(&fx);
    assert_eq!(column(&h, &rows, "email_result"), ["invalid"]);
    assert!(column(&h, &rows, "email_error_msg")[0].contains("CONCAT([.A2]"));
}

#[test]
fn errors_name_the_right_cause() {
    let fx = Fixture::new();
    // An ods whose content is broken is an ods error, not an xlsx one.
    let book = fx.file(
        "broken.ods",
        ods_with(stored(
            "content.xml",
            format!("{ODS_HEAD}<table:table table:name=\"L\">"),
        )),
    );
    let err = refused(&validate(&fx, &book, &[]), &["content.xml"]);
    assert!(!err.contains("_rels"), "{err}");
    let book = fx.file("nocontent.ods", zip(&[stored("mimetype", ODS_MIME)]));
    let err = refused(&validate(&fx, &book, &[]), &["OpenDocument"]);
    assert!(!err.contains("_rels"), "{err}");
    // A good ods is read.
    read_ok(&validate(
        &fx,
        &fx.file("good.ods", ods(&ods_leads(&[["Ann", "ann@example.com"]]))),
        &[],
    ));
    // Password-protected.
    refused(
        &validate(&fx, &fixture("encrypted.xlsx"), &[]),
        &["password"],
    );
    // A shared-string index of -1 is no string.
    let sst = stored(
        "xl/sharedStrings.xml",
        format!(r#"<?xml version="1.0"?><sst {NS}><si><t>first@example.com</t></si></sst>"#),
    );
    let rows = format!(r#"{HEADER_ROW}<row r="2"><c r="B2" t="s"><v>-1</v></c></row>"#);
    let out = validate(&fx, &fx.file("minus.xlsx", xlsx(&rows, Some(sst))), &[]);
    refused(&out, &["B2", "-1"]);
    // A ZIP that is no workbook.
    let out = validate(&fx, &fx.file("x.zip", zip(&[stored("a.txt", "hi")])), &[]);
    refused(&out, &["not a workbook"]);
}

#[test]
fn an_ordinary_xls_is_read_within_the_memory_bound() {
    let fx = Fixture::new();
    read_ok(&validate(&fx, &fixture("leads.xls"), &[]));
    assert_rss_below_256_mb();
}

// ---------------------------------------------------------------------------------------------
// 4. Encodings that switch inside a file

#[test]
fn a_utf16_file_with_a_utf8_tail_is_refused() {
    let fx = Fixture::new();
    let mut bytes = vec![0xFF, 0xFE];
    let head = "Name\tEmail\r\n王丽\twangli@example.cn\r\n张伟\tzw@example.cn\r\n";
    bytes.extend(head.encode_utf16().flat_map(|u| u.to_le_bytes()));
    bytes.extend(
        "Name\tEmail\nAnn\tann@example.com\nBob\tbob@example.com\nCat\tcat@example.com\n李娜\tln@example.cn\nDan\td@example.com\n"
            .as_bytes(),
    );
    let out = validate(&fx, &fx.file("joined.csv", bytes), &[]);
    refused(&out, &["UTF-16LE", "UTF-8"]);
    // The UTF-16 part alone is fine.
    let mut alone = vec![0xFF, 0xFE];
    alone.extend(head.encode_utf16().flat_map(|u| u.to_le_bytes()));
    read_ok(&validate(&fx, &fx.file("alone.csv", alone), &[]));
    let (h, rows) = read_csv(&fx.path("out.csv"), b'\t');
    assert_eq!(column(&h, &rows, "Name"), ["王丽", "张伟"]);
}

#[test]
fn legacy_rows_at_the_end_of_a_utf8_file_share_one_encoding() {
    let fx = Fixture::new();
    let mut bytes = b"Name,Email\n".to_vec();
    for i in 0..300 {
        bytes.extend(format!("王丽{i},wl{i}@example.cn\n").as_bytes());
    }
    let names = ["李娜", "陈静", "张伟", "刘洋", "杨帆"];
    for (i, n) in names.iter().enumerate() {
        let (gbk, _, _) = encoding_rs::GBK.encode(n);
        bytes.extend(gbk.iter());
        bytes.extend(format!(",g{i}@example.cn\n").as_bytes());
    }
    let file = fx.file("mixed.csv", bytes);
    let out = bin(fx.dir.path())
        .env("LANG", "zh_CN.UTF-8")
        .args([
            "validate",
            file.to_str().unwrap(),
            "--check",
            "email=Email",
            "-o",
            fx.path("out.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = read_ok(&out);
    let (h, rows) = out_rows(&fx);
    let got = column(&h, &rows, "Name");
    assert_eq!(&got[300..], names, "{err}");
    assert_eq!(got[7], "王丽7");
}

// ---------------------------------------------------------------------------------------------
// 5. What a spreadsheet did to a previous output

#[test]
fn a_value_a_previous_run_found_mangled_stays_invalid_after_a_spreadsheet() {
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        "Name,Phone\nAnn,1.35363E+10\nBob,+86 138 0013 8000\nCat,1.39001E+10\n",
    );
    let first = fx.path("first.csv");
    let args = |from: &Path, to: &Path| {
        run(
            fx.dir.path(),
            &[
                "validate",
                from.to_str().unwrap(),
                "--check",
                "mobile=Phone",
                "--default-country",
                "86",
                "-o",
                to.to_str().unwrap(),
            ],
        )
    };
    read_ok(&args(&input, &first));
    let (h, rows) = read_csv(&first, b',');
    assert_eq!(
        column(&h, &rows, "mobile_result"),
        ["invalid", "valid", "invalid"]
    );
    // Opened in a spreadsheet and saved as xlsx: Ann's cell is now the number 13536300000, which
    // is a valid mobile of somebody else; Cat's was typed again by a person.
    let book = fx.path("saved.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, name) in h.iter().enumerate() {
        ws.write_string(0, c as u16, name).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match (h[c as usize].as_str(), cell.as_str()) {
                ("Phone", "1.35363E+10") => ws.write_number(r, c, 13536300000.0).unwrap(),
                ("Phone", "1.39001E+10") => ws.write_string(r, c, "+86 139 0013 9000").unwrap(),
                _ => ws.write_string(r, c, cell).unwrap(),
            };
        }
    }
    wb.save(&book).unwrap();
    let again = fx.path("again.csv");
    read_ok(&args(&book, &again));
    let (h, rows) = read_csv(&again, b',');
    assert_eq!(
        column(&h, &rows, "mobile_result"),
        ["invalid", "valid", "valid"]
    );
    let msg = &column(&h, &rows, "mobile_error_msg")[0];
    assert!(msg.contains("scientific notation"), "{msg}");
    assert_eq!(column(&h, &rows, "Phone")[0], "13536300000");
    // And the same through a CSV re-check of that output.
    let third = fx.path("third.csv");
    read_ok(&args(&again, &third));
    let (h, rows) = read_csv(&third, b',');
    assert_eq!(
        column(&h, &rows, "mobile_result"),
        ["invalid", "valid", "valid"]
    );
}
