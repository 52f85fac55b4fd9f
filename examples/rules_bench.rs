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
