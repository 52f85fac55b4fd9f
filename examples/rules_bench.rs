//! Times the local rules alone on generated values: `cargo run --release --example rules_bench`.

use std::time::Instant;

use checkuser::normalize::{email, mobile, name, MobileTypes};

fn main() {
    parts();
    let n = 1_000_000;
    let phones: Vec<String> = (0..n)
        .map(|i| format!("+86 138 {:04} {:04}", i % 10_000, i / 10_000))
        .collect();
    let emails: Vec<String> = (0..n)
        .map(|i| format!("Lead.{i}@Example{}.com", i % 100))
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("acct-{i:07}")).collect();
    let t = Instant::now();
    let ok = phones
        .iter()
        .filter(|p| mobile(p, None, MobileTypes::Mobile).is_ok())
        .count();
    println!(
        "mobile: {:.0} ns each ({ok} valid)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    let ok = emails.iter().filter(|e| email(e).is_ok()).count();
    println!(
        "email:  {:.0} ns each ({ok} valid)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    let ok = names.iter().filter(|e| name(e).is_ok()).count();
    println!(
        "name:   {:.0} ns each ({ok} valid)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    typed_forms();
}

/// The forms that leave the fast path (libphonenumber reads the text): full-width digits as
/// an input method types them, `tel:` URIs, extensions; and internationalized emails (NFC,
/// letters-marks-digits, IDNA2008). 100,000 of each.
fn typed_forms() {
    let n = 100_000;
    fn fullwidth(s: String) -> String {
        s.chars()
            .map(|c| {
                c.to_digit(10)
                    .map_or(c, |d| char::from_u32(0xFF10 + d).unwrap())
            })
            .collect()
    }
    type Make = fn(usize) -> String;
    let cases: [(&str, Make); 4] = [
        ("mobile full-width", |i| {
            fullwidth(format!(
                "\u{FF0B}86\u{3000}138\u{3000}{:04}\u{3000}{:04}",
                i % 10_000,
                i / 10_000
            ))
        }),
        ("mobile tel: URI", |i| {
            format!("tel:+86-138-{:04}-{:04}", i % 10_000, i / 10_000)
        }),
        ("mobile extension", |i| {
            format!("+86 138 {:04} {:04} ext. 12", i % 10_000, i / 10_000)
        }),
        ("mobile 00 + region", |i| {
            format!("0086 138 {:04} {:04}", i % 10_000, i / 10_000)
        }),
    ];
    for (label, make) in cases {
        let values: Vec<String> = (0..n).map(make).collect();
        let cn = Some("CN".parse().unwrap());
        let t = Instant::now();
        let ok = values
            .iter()
            .filter(|p| mobile(p, cn, MobileTypes::Mobile).is_ok())
            .count();
        println!(
            "{label}: {:.0} ns each ({ok} valid)",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
    let emails: Vec<String> = (0..n)
        .map(|i| format!("Jose\u{301}.{i}@b\u{FC}cher{}.de", i % 100))
        .collect();
    let t = Instant::now();
    let ok = emails.iter().filter(|e| email(e).is_ok()).count();
    println!(
        "email unicode: {:.0} ns each ({ok} valid)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

/// The parts of a mobile check: libphonenumber's parse, its type lookup, the key.
fn parts() {
    use rlibphonenumber::PhoneNumber;
    let n = 1_000_000;
    let phones: Vec<String> = (0..n)
        .map(|i| format!("+86138{:04}{:04}", i % 10_000, i / 10_000))
        .collect();
    let t = Instant::now();
    let parsed: Vec<PhoneNumber> = phones
        .iter()
        .map(|p| PhoneNumber::parse(p, None).unwrap())
        .collect();
    println!(
        "parse:    {:.0} ns each",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    let k = parsed
        .iter()
        .filter(|p| p.get_type() == rlibphonenumber::PhoneNumberType::Mobile)
        .count();
    println!(
        "get_type: {:.0} ns each ({k})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    let k: usize = parsed
        .iter()
        .map(|p| p.get_national_significant_number().len())
        .sum();
    println!(
        "nsn:      {:.0} ns each ({k})",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
