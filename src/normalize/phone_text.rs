//! What the mobile rule reads in a cell before and around libphonenumber: a leading `00`
//! international prefix written in any digits, and cells that hold two numbers.

use super::chars::decimal_value;

/// `+` and its full-width form `＋`, as libphonenumber accepts them.
pub fn is_plus(c: char) -> bool {
    matches!(c, '+' | '\u{FF0B}')
}

/// What may stand between the zeros of a leading `00`: libphonenumber's punctuation (dashes of
/// every width, `ー`, slashes, dots, brackets, tildes, soft hyphen, zero-width space, word
/// joiner), besides white space. Its letter `x` is not among them.
const IDD_SEPARATORS: &str = "-\u{2010}\u{2011}\u{2012}\u{2013}\u{2014}\u{2015}\u{2212}\u{30FC}\u{FF0D}\u{FF0F}/.()\u{FF08}\u{FF09}\u{FF3B}\u{FF3D}[]~\u{2053}\u{223C}\u{FF5E}\u{00AD}\u{200B}\u{2060}";

/// The byte range of the leading zeros when the first digit of `s` (with no `+` before it)
/// starts `00`, in any digits (`00`, `００`, `٠٠`) and with separators between the zeros: the
/// contract reads them as a `+`. All the zeros are taken, so that a key such as `0001-…` reads
/// back as `+1 …`.
pub fn leading_zeros(s: &str) -> Option<(usize, usize)> {
    let start = s
        .char_indices()
        .find(|&(_, c)| is_plus(c) || decimal_value(c).is_some())
        .filter(|&(_, c)| !is_plus(c))?
        .0;
    let (mut zeros, mut end) = (0, start);
    for (i, c) in s[start..].char_indices() {
        match decimal_value(c) {
            Some(0) => {
                zeros += 1;
                end = start + i + c.len_utf8();
            }
            None if c.is_whitespace() || IDD_SEPARATORS.contains(c) => {}
            _ => break,
        }
    }
    (zeros >= 2).then_some((start, end))
}

/// True when a cell looks like two numbers: two runs of at least 7 digits between list
/// separators (`/ , ; | &`, their full-width forms, `、`, a new line, another `+`), or two
/// space-separated runs of at least 8 digits.
pub fn looks_like_two_numbers(s: &str) -> bool {
    let separator = |c: char| {
        is_plus(c)
            || matches!(
                c,
                '/' | ','
                    | ';'
                    | '|'
                    | '&'
                    | '\n'
                    | '\r'
                    | '\u{3001}'
                    | '\u{FF0C}'
                    | '\u{FF1B}'
                    | '\u{FF0F}'
            )
    };
    let digits = |part: &str| part.chars().filter(|&c| decimal_value(c).is_some()).count();
    s.split(separator).filter(|p| digits(p) >= 7).count() >= 2
        || s.split(char::is_whitespace)
            .filter(|p| digits(p) >= 8)
            .count()
            >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_in_any_digits() {
        let cases = [
            ("0086 138", Some((0, 2))),
            ("0 086 138", Some((0, 3))),
            ("0001-4155550100", Some((0, 3))),
            ("\u{FF10}\u{FF10}\u{FF18}\u{FF16}", Some((0, 6))),
            ("tel:0086-138", Some((4, 6))),
            ("\u{0660}\u{0660}\u{0669}", Some((0, 4))),
            ("0~01-650", Some((0, 3))),
            ("+0086 138", None),
            ("\u{FF0B}0086", None),
            ("086 138", None),
            ("0 x 0 86", None),
            ("1 00", None),
            ("", None),
            ("abc", None),
        ];
        for (s, want) in cases {
            assert_eq!(leading_zeros(s), want, "{s:?}");
        }
    }

    #[test]
    fn two_numbers_in_one_cell() {
        for s in [
            "13800138000/13900139000",
            "+86 13800138000 / +86 13900139000",
            "13800138000 13900139000",
            "13800138000, 13900139000",
            "13800138000;13900139000",
            "13800138000\u{3001}13900139000",
            "+8613800138000+8613900139000",
            "0086 13800138000 13900139000",
        ] {
            assert!(looks_like_two_numbers(s), "{s:?}");
        }
        for s in [
            "+86 138 0013 8000",
            "+1 415 555 0100 0100",
            "+86 13800138000 ext. 12",
            "+8613800138000;ext=12",
            "+8613800138000,,12",
            "tel:+86-138-0013-8000;phone-context=+86",
            "01495 72553301873 810104",
        ] {
            assert!(!looks_like_two_numbers(s), "{s:?}");
        }
    }
}
