//! Table and property tests for the forms of issue 20: what input methods, `tel:` links and
//! pastes make of mobile numbers (read as libphonenumber reads them), and the email rules the
//! peers' suites hold (NFC, letters-marks-digits, `＠`, IDNA2008, repeated wrappers).

use proptest::prelude::*;

use super::*;

fn dc(r: &str) -> Option<DefaultCountry> {
    Some(r.parse().unwrap())
}

fn m(raw: &str, default: Option<DefaultCountry>) -> Result<String, String> {
    mobile(raw, default, MobileTypes::Mobile)
}

const CN_KEY: &str = "0086-13800138000";

#[test]
fn mobiles_as_input_methods_type_them() {
    let cases = [
        ("１３８００１３８０００", dc("CN"), CN_KEY),
        ("＋86 138 0013 8000", None, CN_KEY),
        ("＋８６　１３８　００１３　８０００", None, CN_KEY),
        ("０ ０８６ １３８ ００１３ ８０００", None, CN_KEY),
        ("＋８６－１３８－００１３－８０００", None, CN_KEY),
        ("（＋８６）１３８００１３８０００", None, CN_KEY),
        ("090ー1234ー5678", dc("JP"), "0081-9012345678"),
        ("０９０ー１２３４ー５６７８", dc("JP"), "0081-9012345678"),
    ];
    for (raw, default, want) in cases {
        assert_eq!(m(raw, default).as_deref(), Ok(want), "{raw}");
    }
    let err = m("１３８００１３８０００", None).unwrap_err();
    assert!(err.contains("no country code"), "{err}");
}

#[test]
fn mobiles_in_other_scripts_digits() {
    let cases = [
        ("+٢٠ ١٠٠ ١٢٣ ٤٥٦٧", None, "0020-1001234567"), // Arabic-Indic
        ("۰۹۱۲۳۴۵۶۷۸۹", dc("IR"), "0098-9123456789"),  // Persian
        ("+९१ ९८७६५ ४३२१०", None, "0091-9876543210"),  // Devanagari
        ("+᠘᠖ ᠑᠓᠘ ᠐᠐᠑᠓ ᠘᠐᠐᠐", None, CN_KEY),           // Mongolian
        ("+৮৬ ১৩৮ ০০১৩ ৮০০০", None, CN_KEY),           // Bengali
    ];
    for (raw, default, want) in cases {
        assert_eq!(m(raw, default).as_deref(), Ok(want), "{raw}");
    }
}

#[test]
fn mobiles_in_tel_uris_and_after_labels() {
    let cases = [
        ("tel:+86-138-0013-8000", None, CN_KEY),
        ("tel:138-0013-8000;phone-context=+86", None, CN_KEY),
        ("tel:138-0013-8000;phone-context=+86", dc("US"), CN_KEY),
        ("Tel: +86 138 0013 8000", None, CN_KEY),
        ("Mobile: +86 138 0013 8000", None, CN_KEY),
        ("手机:13800138000", dc("CN"), CN_KEY),
        ("手机：１３８００１３８０００", dc("CN"), CN_KEY),
    ];
    for (raw, default, want) in cases {
        assert_eq!(m(raw, default).as_deref(), Ok(want), "{raw}");
    }
    // A global number with a phone-context too is not a tel: URI libphonenumber reads.
    let err = m("tel:+86-138-0013-8000;phone-context=+86", None).unwrap_err();
    assert!(err.contains("not a phone number"), "{err}");
}

#[test]
fn mobiles_with_invisible_paste_debris() {
    for raw in [
        "+86 138\u{AD}0013\u{AD}8000",
        "\u{200E}+86 138 0013 8000\u{200E}",
        "\u{FEFF}+8613800138000",
        "+86 138\u{200B}0013 8000",
        "\u{2060}+86 138 0013 8000",
    ] {
        assert_eq!(m(raw, None).as_deref(), Ok(CN_KEY), "{raw:?}");
    }
}

#[test]
fn mobiles_with_extensions_keep_the_number_only() {
    for raw in [
        "+86 138 0013 8000 ext. 12",
        "+86 138 0013 8000 x12",
        "+86 138 0013 8000 #12",
        "+8613800138000;ext=12",
        "tel:+8613800138000;ext=12",
        "+8613800138000,,12",
        "+86 138 0013 8000 extension 345",
    ] {
        assert_eq!(m(raw, None).as_deref(), Ok(CN_KEY), "{raw}");
    }
}

#[test]
fn mobiles_with_vanity_letters_follow_libphonenumber() {
    assert_eq!(m("+44 7400 TEXTME", None).as_deref(), Ok("0044-7400839863"));
    let err = m("+1-800-FLOWERS", None).unwrap_err();
    assert!(err.contains("TOLL_FREE"), "{err}");
    assert_eq!(
        mobile("1-800-FLOWERS", dc("US"), MobileTypes::Any).as_deref(),
        Ok("0001-8003569377")
    );
}

#[test]
fn the_default_regions_own_international_prefix_wins() {
    let cases = [
        ("0011 86 138 0013 8000", dc("AU"), CN_KEY),
        ("0011 86 138 0013 8000", dc("61"), CN_KEY),
        ("0011 61 412 345 678", dc("AU"), "0061-412345678"),
        ("001 86 138 0013 8000", dc("SG"), CN_KEY),
        ("011 86 138 0013 8000", dc("US"), CN_KEY),
        ("０００８６ １３８ ００１３ ８０００", dc("CN"), CN_KEY),
        // otherwise 00 stays +
        ("0086 138 0013 8000", dc("AU"), CN_KEY),
        ("0086 138 0013 8000", dc("SG"), CN_KEY),
        ("0086-13800138000", dc("AU"), CN_KEY),
        ("0001-4155550100", dc("AU"), "0001-4155550100"),
        ("+0086 138 0013 8000", dc("CN"), CN_KEY),
    ];
    for (raw, default, want) in cases {
        assert_eq!(m(raw, default).as_deref(), Ok(want), "{raw} {default:?}");
    }
    // With no default the 00 is a +: +1 1 86… is too long.
    assert!(m("0011 86 138 0013 8000", None).is_err());
}

#[test]
fn two_numbers_in_one_cell_are_named() {
    let cases = [
        ("13800138000/13900139000", dc("CN")),
        ("13800138000 13900139000", dc("CN")),
        ("13800138000, 13900139000", dc("CN")),
        ("13800138000、13900139000", dc("CN")),
        ("+86 13800138000 / +86 13900139000", None),
        ("+86 13800138000/13900139000", None),
    ];
    for (raw, default) in cases {
        let err = m(raw, default).unwrap_err();
        assert!(err.contains("two numbers in one cell?"), "{raw}: {err}");
    }
    let err = m("+1 415 555 0100 0100", None).unwrap_err();
    assert!(!err.contains("two numbers"), "{err}");
}

#[test]
fn spreadsheet_mangled_values_keep_their_reason() {
    for (raw, default) in [
        ("8.6138E+12", None),
        ("8,6138E+12", dc("CN")),
        ("1.35363E+10", dc("CN")),
        ("'8.6138E+12", None),
        ("=\"8.6138E+12\"", None),
    ] {
        let err = m(raw, default).unwrap_err();
        assert!(err.contains("scientific notation"), "{raw}: {err}");
    }
}

#[test]
fn emails_from_the_peers_suites() {
    let ok = [
        ("e\u{301}mile@example.com", "\u{E9}mile@example.com"),
        ("\u{E9}mile@example.com", "\u{E9}mile@example.com"),
        ("li.wei＠qq.com", "li.wei@qq.com"),
        ("李娜＠qq.com", "李娜@qq.com"),
        ("<<a@b.com>>", "a@b.com"),
        ("mailto:mailto:a@b.com", "a@b.com"),
        ("<mailto:<a@b.com>>", "a@b.com"),
        ("MAILTO:<<a@b.com>>", "a@b.com"),
        (
            "\u{0661}\u{0662}\u{0663}@example.com",
            "\u{0661}\u{0662}\u{0663}@example.com",
        ),
        ("राम@मोहन.ईन्फो", "राम@मोहन.ईन्फो"),
        ("me@ab-cd.com", "me@ab-cd.com"),
        ("me@xn--bcher-kva.de", "me@xn--bcher-kva.de"),
        ("x@l·l.com", "x@l·l.com"),
    ];
    for (raw, want) in ok {
        assert_eq!(email(raw).as_deref(), Ok(want), "{raw}");
    }
    let bad = [
        ("me.\u{37E}@example.com", "U+037E"),
        ("\u{37E}@example.com", "U+037E"),
        ("＠@fullwidth.at", "more than one '@'"),
        ("\u{1FEF}@example.com", "U+1FEF"),
        ("€@example.com", "U+20AC"),
        ("smile\u{1F600}@example.com", "U+1F600"),
        ("a；b@example.com", "U+FF1B"),
        ("a＂b@example.com", "U+FF02"),
        ("a\u{B2}@example.com", "U+00B2"),
        ("\u{301}abc@example.com", "combining mark"),
        ("é;x@example.com", "';'"),
        ("me@yy--0.tld", "not a valid domain"),
        ("me@yy－－0.tld", "not a valid domain"),
        ("a@e😀.com", "IDNA2008"),
        ("a@xn--ls8h.la", "IDNA2008"),
        ("a@☃.com", "IDNA2008"),
        ("x@a·b.com", "IDNA2008"),
        ("<<a@b.com>", "'<'"),
        ("a＠b@example.com", "more than one"),
    ];
    for (raw, why) in bad {
        let err = email(raw).unwrap_err();
        assert!(err.contains(why), "{raw}: {err}");
    }
}

proptest! {
    /// libphonenumber reads every script's digits alike: a number typed in full-width,
    /// Arabic-Indic, Devanagari or Mongolian digits has the key of its ASCII form.
    #[test]
    fn digits_of_any_script_give_the_same_key(
        national in "1[3-9][0-9]{9}",
        zero in prop::sample::select(vec![0xFF10u32, 0x0660, 0x06F0, 0x0966, 0x1810, 0x09E6]),
        sep in prop::sample::select(vec![" ", "\u{3000}", "-", "ー", ""]),
    ) {
        let ascii = format!("+86 {national}");
        let script: String = format!("+86{sep}{national}")
            .chars()
            .map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(zero + d).unwrap()))
            .collect();
        prop_assert_eq!(m(&script, None), m(&ascii, None));
    }

    /// An extension never changes the key, and never makes a valid number invalid.
    #[test]
    fn extensions_do_not_change_the_key(
        national in "1[3-9][0-9]{9}",
        ext in "[0-9]{1,5}",
        form in 0usize..5,
    ) {
        let base = format!("+86 {national}");
        let with = match form {
            0 => format!("{base} ext. {ext}"),
            1 => format!("{base} x{ext}"),
            2 => format!("{base};ext={ext}"),
            3 => format!("tel:+86{national};ext={ext}"),
            _ => format!("{base},,{ext}"),
        };
        prop_assert_eq!(m(&with, None), m(&base, None));
    }

    /// No text makes the mobile rule panic, and what it accepts is a well-formed key that
    /// reads back as itself.
    #[test]
    fn any_text_gives_a_verdict(s in "\\PC{0,40}", region in prop::sample::select(vec!["", "CN", "AU", "US"])) {
        let default = (!region.is_empty()).then(|| region.parse().unwrap());
        if let Ok(key) = mobile(&s, default, MobileTypes::Any) {
            prop_assert!(key.len() <= MAX_KEY_LEN && key.starts_with("00") && &key[4..5] == "-");
            prop_assert_eq!(mobile(&key, None, MobileTypes::Any), Ok(key.clone()));
        }
    }

    /// The same, on text shaped like numbers: digits of several scripts, pluses, separators,
    /// letters, `tel:`-URI parameters, extensions and invisible characters.
    #[test]
    fn number_shaped_text_gives_a_verdict(
        s in "(tel:|Tel: |手机：)?[0-9０-９٠-٩۰-۹+＋ ()\\-.;,=:#xXeEa-z\u{AD}\u{200B}\u{3000}ー/]{0,30}",
        region in prop::sample::select(vec!["", "CN", "AU", "SG", "US", "JP"]),
    ) {
        let default = (!region.is_empty()).then(|| region.parse().unwrap());
        if let Ok(key) = mobile(&s, default, MobileTypes::Any) {
            prop_assert!(key.len() <= MAX_KEY_LEN && key.starts_with("00") && &key[4..5] == "-");
            prop_assert_eq!(mobile(&key, None, MobileTypes::Any), Ok(key.clone()));
        }
    }

    /// No text makes the email rule panic, and an accepted key is NFC and reads back as itself.
    #[test]
    fn any_address_shaped_text_gives_a_verdict(
        local in "[a-z.<:\\-]{0,6}\\PC{0,8}",
        at in prop::sample::select(vec!["@", "＠", "@@", ""]),
        domain in "\\PC{0,8}[.。]?[a-z\\-]{0,6}[.．]?[a-z>]{0,4}",
    ) {
        if let Ok(key) = email(&format!("{local}{at}{domain}")) {
            prop_assert!(icu_normalizer::ComposingNormalizerBorrowed::new_nfc().is_normalized(&key), "{key}");
            prop_assert_eq!(email(&key), Ok(key.clone()));
        }
    }

    /// The email key is NFC whatever form the local part was typed in, and keys are fixed points.
    #[test]
    fn email_keys_are_nfc_and_idempotent(
        local in "[a-z]{1,5}(\u{E9}|e\u{301}|\u{F1}|n\u{303}|\u{5F20}|\u{4F1F}){1,3}[a-z0-9]{0,5}",
        domain in prop::sample::select(vec!["example.com", "bücher.de", "例子.中国", "xn--bcher-kva.de"]),
    ) {
        let key = email(&format!("{local}@{domain}")).unwrap();
        let composed: String = icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(&local).into_owned();
        prop_assert!(key.starts_with(&format!("{composed}@")), "{key}");
        prop_assert_eq!(email(&key), Ok(key.clone()));
    }
}
