//! Times `api::redact::bytes` on typical server answers of about 200 bytes:
//! `cargo run --release --example redact_bench`.

use std::hint::black_box;
use std::time::Instant;

use checkuser::api::redact;

fn main() {
    redact::register([
        b"AKFAKE0000000000001".as_slice(),
        b"skFakeSecret0000000000000000000000000001",
        b"MIIsecretTOKENvAlUe123vAlUe123vAlUe123",
    ]);
    let answers: [(&str, &str); 3] = [
        (
            "plain JSON",
            r#"{"error_code":"CBC.0000","error_msg":"success","request_id":"5f1c2a9e8b7d4c3a9e1f2b3c4d5e6f70","data":{"status":"1","uplimit":"200","checked_at":"2026-01-05T10:21:33Z"}}"#,
        ),
        (
            "JSON with a query",
            r#"{"error_code":"CBC.9999","error_msg":"see https://x.example/cb?a=1&b=%2F","request_id":"5f1c2a9e8b7d4c3a9e1f2b3c4d5e6f70","data":{"status":"0","path":"a\/b","n":"200"}}"#,
        ),
        (
            "JSON with escapes",
            r#"{"error_code":"CBC.9999","error_msg":"bad \u0041K &amp; =41 \x41 &#65; =?UTF-8?Q?x?=","request_id":"5f1c2a9e8b7d4c3a9e1f2b3c4d5e6f70","data":{"status":"0","n":"200"}}"#,
        ),
    ];
    for (name, answer) in answers {
        let raw = answer.as_bytes();
        let n = 200_000;
        for _ in 0..1_000 {
            black_box(redact::bytes(black_box(raw)));
        }
        let t = Instant::now();
        for _ in 0..n {
            black_box(redact::bytes(black_box(raw)));
        }
        println!(
            "{name} ({} bytes): {:.2} µs per call",
            raw.len(),
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
}
