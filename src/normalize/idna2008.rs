//! The code points IDNA2008 (RFC 5892) permits in a domain label. UTS-46, which the `idna`
//! crate implements, also lets through symbols and emoji (`e😀.com`), which no registry under a
//! real top-level domain issues: this is the stricter test applied to the Unicode form of each
//! label after UTS-46 mapping (lower case, NFC), so the characters that mapping removes or
//! changes need no rule here.

use icu_properties::props::GeneralCategory as Gc;

use super::chars::general_category;

/// The first character of `label` (a label in its UTS-46 Unicode form) that IDNA2008 does not
/// permit there, if any.
pub fn forbidden_char(label: &str) -> Option<char> {
    let chars: Vec<char> = label.chars().collect();
    let arabic_indic = chars.iter().any(|c| ('\u{0660}'..='\u{0669}').contains(c));
    let extended = chars.iter().any(|c| ('\u{06F0}'..='\u{06F9}').contains(c));
    chars.iter().enumerate().find_map(|(i, &c)| {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let ok = match c {
            'a'..='z' | '0'..='9' | '-' => true,
            // RFC 5892 2.6, exceptions: PVALID
            '\u{00DF}' | '\u{03C2}' | '\u{06FD}' | '\u{06FE}' | '\u{0F0B}' | '\u{3007}' => true,
            // exceptions: DISALLOWED (Arabic tatweel, NKo lajanyalan, Hangul tone marks, vertical kana repeat marks)
            '\u{0640}'
            | '\u{07FA}'
            | '\u{302E}'
            | '\u{302F}'
            | '\u{3031}'..='\u{3035}'
            | '\u{303B}' => false,
            // old Hangul Jamo (2.9)
            '\u{1100}'..='\u{11FF}' | '\u{A960}'..='\u{A97F}' | '\u{D7B0}'..='\u{D7FF}' => false,
            // CONTEXTO (appendix A): middle dot between two l's (Catalan), Greek keraia before
            // Greek, Hebrew geresh and gershayim after Hebrew, katakana middle dot with kana or Han
            '\u{00B7}' => before == Some('l') && after == Some('l'),
            '\u{0375}' => after.is_some_and(is_greek),
            '\u{05F3}' | '\u{05F4}' => before.is_some_and(is_hebrew),
            '\u{30FB}' => chars.iter().any(|&x| x != '\u{30FB}' && is_kana_or_han(x)),
            // Arabic-Indic digits of the two kinds may not be mixed in one label
            '\u{0660}'..='\u{0669}' => !extended,
            '\u{06F0}'..='\u{06F9}' => !arabic_indic,
            // CONTEXTJ: the joiners' rules are UTS-46's CheckJoiners, done by `idna`
            '\u{200C}' | '\u{200D}' => true,
            _ => matches!(
                general_category(c),
                Gc::LowercaseLetter
                    | Gc::OtherLetter
                    | Gc::ModifierLetter
                    | Gc::NonspacingMark
                    | Gc::SpacingMark
                    | Gc::DecimalNumber
            ),
        };
        (!ok).then_some(c)
    })
}

fn is_greek(c: char) -> bool {
    matches!(c, '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}')
}

fn is_hebrew(c: char) -> bool {
    matches!(c, '\u{0590}'..='\u{05FF}' | '\u{FB1D}'..='\u{FB4F}')
}

fn is_kana_or_han(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{FF66}'..='\u{FF9F}'
        | '\u{20000}'..='\u{3FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_and_marks_pass() {
        for label in [
            "example",
            "bücher",
            "例子",
            "中国",
            "пример",
            "παράδειγμα",
            "straße",
            "ελληνικός",
            "مثال",
            "उदाहरण",
            "ไทย",
            "한국",
            "l·l",
            "ノ・ン",
            "٠١٢",
            "۰۱۲",
            "xn--bcher-kva",
        ] {
            assert_eq!(forbidden_char(label), None, "{label}");
        }
    }

    #[test]
    fn symbols_emoji_and_context_failures_do_not() {
        let cases = [
            ("e\u{1F600}", '\u{1F600}'),
            ("\u{2603}", '\u{2603}'),
            ("a\u{20AC}", '\u{20AC}'),
            ("a·b", '·'),
            ("・", '・'),
            ("a\u{0640}b", '\u{0640}'),
            ("\u{1100}\u{1161}", '\u{1100}'),
            ("٠۰", '٠'),
            ("x\u{2460}", '\u{2460}'),
        ];
        for (label, bad) in cases {
            assert_eq!(forbidden_char(label), Some(bad), "{label}");
        }
    }
}
