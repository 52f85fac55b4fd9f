//! What the dispatcher reads from any body whatever the version: the keys an answer is read
//! from, a key given twice with two meanings, and the words for a body that is no answer
//! ([`said`]). The versions' own paths, bodies and answers are in [`super::v1`] and
//! [`super::v2`], reached through [`super::ApiVersion`].

use super::answer::Unreadable;

/// The keys an answer is read from.
pub const ANSWER_KEYS: [&str; 5] = [
    "error_code",
    "status",
    "uplimit",
    "check_result",
    "mobile_remain_available_num",
];

/// The first of `keys` that a JSON object body holds twice, with two different values, at its
/// top level. A parser keeps only one of the two (serde_json the last, others the first), so
/// such an answer means different things to different readers.
pub fn conflicting_key(body: &[u8], keys: &[&str]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    if !may_repeat(body, keys) {
        return None;
    }
    struct Keys<'k>(&'k [&'k str]);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Read to the end: serde_json refuses a map left half read.
            let (mut seen, mut conflict) = (Vec::<(String, serde_json::Value)>::new(), None);
            while let Some(key) = map.next_key::<String>()? {
                if !self.0.contains(&key.as_str()) {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let value = map.next_value::<serde_json::Value>()?;
                match seen.iter().find(|(k, _)| *k == key) {
                    Some((_, first)) if *first != value => {
                        conflict.get_or_insert(key);
                    }
                    Some(_) => {}
                    None => seen.push((key, value)),
                }
            }
            Ok(conflict)
        }
    }
    serde_json::Deserializer::from_slice(body)
        .deserialize_map(Keys(keys))
        .ok()
        .flatten()
}

/// Whether `body` may hold one of `keys` twice. Without a backslash a JSON text spells every
/// key as it is, between quotes: a key whose quoted spelling occurs at most once is not there
/// twice. A body with escapes is read in full.
fn may_repeat(body: &[u8], keys: &[&str]) -> bool {
    if body.contains(&b'\\') {
        return true;
    }
    keys.iter().any(|k| {
        let k = k.as_bytes();
        let quoted = |w: &&[u8]| {
            w.first() == Some(&b'"') && w.last() == Some(&b'"') && w[1..w.len() - 1] == *k
        };
        body.windows(k.len() + 2).filter(quoted).nth(1).is_some()
    })
}

/// A JSON value for an error message, short and free of control characters.
pub fn shown(v: &serde_json::Value) -> String {
    // Secrets are taken out of the whole value before it is cut.
    let clean = super::sanitize(&v.to_string());
    match clean.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &clean[..i]),
        None => clean,
    }
}

/// Why a body is no answer, in words: the value shown shortened and made safe.
pub fn said(why: &Unreadable) -> String {
    match why {
        Unreadable::Missing(field) => format!("the answer has no {field}"),
        Unreadable::Bad {
            field,
            value,
            expected,
        } => format!("{field} {} is not {expected}", shown(value)),
        Unreadable::Ambiguous => "status and check_result disagree: the answer is ambiguous".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_found_however_it_is_spelled() {
        let keys = &ANSWER_KEYS;
        assert_eq!(
            conflicting_key(br#"{"status":"1","uplimit":"0"}"#, keys),
            None
        );
        let twice = br#"{"status":"1","status":"0"}"#;
        assert_eq!(conflicting_key(twice, keys).as_deref(), Some("status"));
        let escaped = br#"{"status":"1","st\u0061tus":"0"}"#;
        assert_eq!(conflicting_key(escaped, keys).as_deref(), Some("status"));
        // The same value twice means one thing to every reader.
        assert_eq!(
            conflicting_key(br#"{"status":"1","status":"1"}"#, keys),
            None
        );
    }

    #[test]
    fn unreadable_values_are_shown_short_and_clean() {
        let why = Unreadable::Bad {
            field: "status",
            value: serde_json::Value::String(format!("\u{1b}[2J{}", "x".repeat(100))),
            expected: "a documented value",
        };
        let text = said(&why);
        assert!(text.starts_with("status \"\\u001b[2Jxxx"), "{text}");
        assert!(!text.chars().any(char::is_control), "{text}");
        assert!(text.ends_with("… is not a documented value"), "{text}");
        assert_eq!(
            said(&Unreadable::Missing("uplimit")),
            "the answer has no uplimit"
        );
    }
}
