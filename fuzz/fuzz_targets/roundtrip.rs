//! Arbitrary bytes through read → map → normalize → escape → write → re-read: nothing may
//! panic, every record must come back in order with its cells escaped and padded exactly as
//! the contract says, and normalized keys must normalize to themselves.

#![no_main]

use std::io::Cursor;

use checkuser::model::{Local, Outcome, ResultKind, RESULT_COLUMNS};
use checkuser::input::{CheckSpec, InputOptions, Layout, RecordReader};
use checkuser::normalize::{self, Rules};
use checkuser::output::escape::cell;
use checkuser::output::{CsvSink, Format, SinkOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = InputOptions { path: None, delimiter: None, encoding: None, record_cap: 1 << 16, sheet: None, region: None };
    let Ok(mut reader) = RecordReader::from_reader(Box::new(Cursor::new(data.to_vec())), "fuzz".into(), &opts) else {
        return;
    };
    let header = reader.header.clone();
    let rules = Rules { default_country: Some("86".parse().unwrap()), ..Rules::default() };
    let mut specs: Vec<CheckSpec> = vec!["email=#1".parse().unwrap()];
    if header.len() > 1 {
        specs.push("mobile=#2".parse().unwrap());
    }
    if header.len() > 2 {
        specs.push("name=#3".parse().unwrap());
    }
    let layout = Layout::resolve(&header, &specs, rules).expect("positional columns always resolve");
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    let path = dir.path().join("out.csv");
    let sink_opts = SinkOptions {
        path: Some(path.clone()),
        delimiter: reader.delimiter,
        bom: false,
        escape_formulas: true,
        format: Format::Csv,
        changes_sheet: false,
    };
    let out_header = layout.output_header();
    let mut sink = CsvSink::create(&sink_opts, &out_header, layout.width).unwrap();
    let now = chrono::Utc::now();
    let mut written = Vec::new();
    // The same bytes read again without reusing memory: what recycling must not change.
    let mut fresh = RecordReader::from_reader(Box::new(Cursor::new(data.to_vec())), "fuzz".into(), &opts).unwrap();
    let (mut spare, mut checks) = (csv::StringRecord::new(), Vec::new());
    loop {
        let rec = match reader.next_record_into(std::mem::take(&mut spare)) {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(_) => return,
        };
        let again = fresh.next_record().expect("the same bytes read the same").expect("a record");
        assert_eq!((&rec.fields, &rec.problem, rec.line), (&again.fields, &again.problem, again.line));
        let fields = layout.project(rec.fields);
        layout.checks_into(&fields, rec.problem.as_deref(), &mut checks);
        assert_eq!(checks, layout.checks(&layout.project(again.fields), again.problem.as_deref()));
        for (kind, local) in &checks {
            if let Local::Ready(key) = local {
                assert_eq!(normalize::check(*kind, key, &rules), Local::Ready(key.clone()), "{kind} {key:?}");
            }
        }
        let outcomes: Vec<Outcome> = checks.drain(..).map(|(_, l)| Outcome::from_local(l, ResultKind::Valid, now)).collect();
        sink.write_row(&fields, &outcomes).unwrap();
        written.push((fields.clone(), outcomes));
        spare = fields;
    }
    sink.finish().unwrap();

    let mut back = csv::ReaderBuilder::new()
        .delimiter(reader.delimiter)
        .flexible(true)
        .has_headers(false)
        .from_path(&path)
        .unwrap();
    let mut rows = back.records();
    let got: Vec<String> = rows.next().unwrap().unwrap().iter().map(String::from).collect();
    let want: Vec<String> = out_header.iter().map(|h| cell(h).into_owned()).collect();
    assert_eq!(got, want, "header");
    for (n, (fields, outcomes)) in written.iter().enumerate() {
        let got: Vec<String> = rows.next().expect("a row per record").unwrap().iter().map(String::from).collect();
        let want: Vec<String> = (0..layout.width).map(|i| cell(fields.get(i).unwrap_or("")).into_owned()).collect();
        let extras: Vec<String> = fields.iter().skip(layout.width).map(|f| cell(f).into_owned()).collect();
        assert_eq!(got.len(), layout.width + outcomes.len() * RESULT_COLUMNS.len() + extras.len(), "row {n}");
        assert_eq!(&got[..layout.width], &want[..], "row {n}: input cells");
        for (k, o) in outcomes.iter().enumerate() {
            let at = layout.width + k * RESULT_COLUMNS.len();
            assert_eq!(got[at], cell(&o.checked_key), "row {n}: checked_key");
            assert_eq!(got[at + 1], o.result.as_str(), "row {n}: result");
        }
        assert_eq!(&got[got.len() - extras.len()..], &extras[..], "row {n}: extra fields");
    }
    assert!(rows.next().is_none(), "no extra rows");
});
