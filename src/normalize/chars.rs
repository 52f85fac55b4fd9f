//! The Unicode facts the rules need about single characters (ICU's character data, the same
//! tables `idna` uses): decimal digit values in any script, and the letter / mark / digit
//! classes an internationalized local part may hold.

use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use icu_properties::CodePointMapData;

fn category(c: char) -> GeneralCategory {
    CodePointMapData::<GeneralCategory>::new().get(c)
}

/// The value of a decimal digit of any script (`7`, `７`, `٧`, `७`, `᠗`), as libphonenumber
/// reads digits; `None` for anything else.
pub fn decimal_value(c: char) -> Option<u32> {
    if c.is_ascii() {
        return c.to_digit(10);
    }
    if category(c) != GeneralCategory::DecimalNumber {
        return None;
    }
    // Unicode assigns decimal digits in runs of ten, 0 to 9 (some runs follow each other, as
    // the mathematical digits do): the value is the distance from the run's start, modulo ten.
    let mut start = c as u32;
    while let Some(p) = start.checked_sub(1).and_then(char::from_u32) {
        if category(p) != GeneralCategory::DecimalNumber {
            break;
        }
        start -= 1;
    }
    Some((c as u32 - start) % 10)
}

/// A combining mark (general category M).
pub fn is_mark(c: char) -> bool {
    GeneralCategoryGroup::Mark.contains(category(c))
}

/// A letter, a mark or a decimal digit (general categories L, M, Nd): what an internationalized
/// local part may hold besides ASCII.
pub fn is_letter_mark_or_digit(c: char) -> bool {
    let gc = category(c);
    GeneralCategoryGroup::Letter.contains(gc)
        || GeneralCategoryGroup::Mark.contains(gc)
        || gc == GeneralCategory::DecimalNumber
}

/// The general category, for the IDNA2008 rules.
pub(super) fn general_category(c: char) -> GeneralCategory {
    category(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_every_script_have_their_value() {
        let zeros = [
            '0',
            '\u{FF10}',
            '\u{0660}',
            '\u{06F0}',
            '\u{0966}',
            '\u{1810}',
            '\u{09E6}',
            '\u{0E50}',
            '\u{1D7CE}',
            '\u{1D7D8}',
            '\u{1D7F6}',
        ];
        for zero in zeros {
            for d in 0..10 {
                let c = char::from_u32(zero as u32 + d).unwrap();
                assert_eq!(decimal_value(c), Some(d), "{c:?}");
            }
        }
        for c in [
            'a', '+', '\u{00B2}', '\u{2460}', '\u{3007}', '\u{4E00}', ' ',
        ] {
            assert_eq!(decimal_value(c), None, "{c:?}");
        }
    }

    #[test]
    fn letters_marks_and_digits_only() {
        for c in ['é', '李', 'ß', '\u{0301}', '\u{0663}', 'ж', 'ツ'] {
            assert!(is_letter_mark_or_digit(c), "{c:?}");
        }
        for c in [
            '€',
            '\u{1F600}',
            '；',
            '＂',
            '\u{1FEF}',
            '\u{037E}',
            '\u{00B2}',
            '\u{3000}',
            '·',
        ] {
            assert!(!is_letter_mark_or_digit(c), "{c:?}");
        }
        assert!(is_mark('\u{0301}') && !is_mark('e'));
    }
}
