//! Formula escaping, in one place: a cell that a spreadsheet would run as a formula gets a
//! leading `'` so that it shows as the text it is.

use std::borrow::Cow;

/// Characters that make Excel or LibreOffice treat a cell as a formula.
pub const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as it must be written: prefixed with `'` if it starts with a trigger character.
pub fn cell(s: &str) -> Cow<'_, str> {
    if s.starts_with(TRIGGERS) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
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
        assert_eq!(cell("0086-13800138000"), "0086-13800138000");
        assert_eq!(cell("a=b"), "a=b");
        assert_eq!(cell(""), "");
    }

    proptest! {
        #[test]
        fn an_escaped_cell_never_starts_with_a_trigger(s in ".*") {
            let out = cell(&s);
            prop_assert!(!out.starts_with(TRIGGERS));
            prop_assert!(out.ends_with(s.as_str()));
            prop_assert!(out.len() <= s.len() + 1);
        }
    }
}
