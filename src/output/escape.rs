//! Formula escaping, in one place: a cell that a spreadsheet would run as a formula gets a
//! leading `'` so that it shows as the text it is. [`unescape`] takes that `'` off again when
//! a checkuser output is read back in.

use std::borrow::Cow;

/// Characters that make Excel or LibreOffice treat a cell as a formula, ASCII and full-width.
pub const TRIGGERS: [char; 11] = [
    '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// True if a spreadsheet could take the cell for a formula: it starts with a trigger, or
/// with spaces followed by one.
pub fn is_live(s: &str) -> bool {
    match s.as_bytes().first() {
        // The common case, decided on one byte.
        Some(b) if b.is_ascii_alphanumeric() => false,
        None => false,
        _ => s.trim_start_matches(' ').starts_with(TRIGGERS),
    }
}

/// True if the cell gets a leading `'`: a spreadsheet could take it for a formula, or it
/// starts with `'`s in front of such a text (`'=x` written as it is would read back as `=x`).
pub fn needs_escape(s: &str) -> bool {
    is_live(s.trim_start_matches('\''))
}

/// The cell as it must be written: prefixed with `'` if [`needs_escape`].
pub fn cell(s: &str) -> Cow<'_, str> {
    if needs_escape(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The inverse of [`cell`]: a `'` that escaping would have added is removed.
pub fn unescape(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_only_trigger_cells() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+86 138"), "'+86 138");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\n=1+1"), "'\n=1+1");
        assert_eq!(cell("  =1+1"), "'  =1+1");
        assert_eq!(cell("＝1+1"), "'＝1+1");
        assert_eq!(cell("＋86"), "'＋86");
        assert_eq!(cell("－1"), "'－1");
        assert_eq!(cell("＠SUM(A1)"), "'＠SUM(A1)");
        assert_eq!(cell("0086-13800138000"), "0086-13800138000");
        assert_eq!(cell("a=b"), "a=b");
        assert_eq!(cell("  a"), "  a");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn unescape_takes_off_only_what_escaping_added() {
        assert_eq!(unescape("'+86 138"), "+86 138");
        assert_eq!(unescape("'  =1"), "  =1");
        assert_eq!(unescape("'quoted'"), "'quoted'");
        // A cell that really starts with `'` before a trigger survives the round trip.
        assert_eq!(cell("'=x"), "''=x");
        assert_eq!(unescape("''=x"), "'=x");
        assert_eq!(cell("'x"), "'x");
        assert_eq!(unescape("plain"), "plain");
    }

    proptest! {
        /// Excel and LibreOffice read a cell as a formula when its first character, after
        /// leading spaces, is one of = + - @ (or their full-width forms) or a control
        /// character that they skip (TAB, CR, LF); an escaped cell never is one.
        #[test]
        fn no_escaped_cell_is_live(s in "[ \t\r\n=+@＝＋－＠a-z0-9'-]{0,8}.*") {
            let out = cell(&s);
            let first = out.trim_start_matches([' ', '\t', '\r', '\n']).chars().next();
            prop_assert!(!matches!(first, Some('=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠')) || out.starts_with('\''));
            prop_assert!(!is_live(&out));
            prop_assert!(out.ends_with(s.as_str()));
            prop_assert_eq!(unescape(&out), s.as_str());
        }
    }
}
