#!/usr/bin/env python3
"""Generate the phone-number conformance corpus (phones.tsv) with a reference verdict from
phonenumbers (the Python port of libphonenumber).

usage: python3 scripts/conformance/gen_phones.py [OUT.tsv]   (default: phones.tsv beside this file)

Deterministic: fixed seed, regions and types iterated in sorted order. The output depends only on
the phonenumbers version (recorded in the header comment of the TSV).

Columns (tab-separated, no quoting; no field contains a tab or newline):
  input            the cell as it would appear in a lead list
  default_country  '' | region code (CN) | calling code (86, meaning its main region)
  valid            1 / 0: the reference verdict (see ref_verdict below)
  key              CCCC-NSN as the reference parsed it (also for invalid rows when the parse
                   succeeded, for diagnosis; empty when it did not parse)
  type             reference number type for parsed numbers (MOBILE, FIXED_LINE, TOLL_FREE, ...),
                   or why it failed: SCIENTIFIC, PARSE:<error>, NOT_VALID:<possibility>,
                   CC3:<type> (3-digit calling code); EXT:<type> for a number with an extension
  case             which generator produced the row (for grouping disagreements)

Reference verdict (mirrors CONTRACT.md "Normalization and validation", mobile): whatever
phonenumbers reads, with the contract's rules around it (ref_verdict below):
  * trim; strip the spreadsheet artefacts a leading ' or a ="..." wrapper;
  * a number a spreadsheet wrote in scientific notation (8.6138E+12) -> invalid (SCIENTIFIC);
  * a leading 00 (the first digit, before any +; separators between the zeros allowed) is an
    international prefix: all the leading zeros are read as + -- except that when the default
    region's own international prefix reads the cell as a valid number (phonenumbers.parse with
    the region gives country_code_source FROM_NUMBER_WITH_IDD and is_valid_number), that reading
    wins (Australia's 0011, Singapore's 001);
  * phonenumbers.parse(cell, default_region or None) on the whole cell: full-width and other
    Unicode digits, tel: URIs, labels, vanity letters and extensions are read as phonenumbers
    reads them; a calling-code default means phonenumbers.region_code_for_country_code(cc);
  * valid iff the parse succeeds, is_valid_number, number_type in (MOBILE,
    FIXED_LINE_OR_MOBILE), the calling code has at most 2 digits and the key at most 64
    characters; the key is CCCC-NSN, without the extension (type EXT:<type> notes one).
"""
import os
import random
import re
import sys
import unicodedata

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F
from phonenumbers import PhoneNumberType as T

SEED = 20241129
NBSP = "\u00a0"
MOBILE_TYPES = (T.MOBILE, T.FIXED_LINE_OR_MOBILE)
TYPE_NAMES = {getattr(T, n): n for n in dir(T) if n.isupper()}
POSSIBLE_NAMES = {
    getattr(pn.ValidationResult, n): n for n in dir(pn.ValidationResult) if n.isupper()
}
ALL_TYPES = sorted(k for k in TYPE_NAMES if k != T.UNKNOWN)
REGIONS = sorted(pn.SUPPORTED_REGIONS)
# calling codes whose main region is a real region (usable as --default-country 86)
CALLING_CODES = sorted(
    {pn.country_code_for_region(r) for r in REGIONS}
    & {cc for cc in pn.COUNTRY_CODE_TO_REGION_CODE if pn.region_code_for_country_code(cc) in pn.SUPPORTED_REGIONS}
)


def resolve_default(default):
    if default == "":
        return None
    if default.isdigit():
        return pn.region_code_for_country_code(int(default))
    return default


def strip_artefacts(s):
    s = s.strip()
    if s.startswith("'"):
        s = s[1:].strip()
    if s.startswith('="') and s.endswith('"') and len(s) >= 3:
        s = s[2:-1].strip()
    return s


SCIENTIFIC = re.compile(r"^[0-9]+(?:[.,][0-9]+)?[eE]\+?[0-9]+$")
PLUS_CHARS = "+\uff0b"
# Characters that may stand between the zeros of a leading 00 (libphonenumber's punctuation,
# without its letter x).
IDD_SEPARATORS = set("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff0f/.()\uff08\uff09"
                     "\uff3b\uff3d[]~\u2053\u223c\uff5e\u00ad\u200b\u2060")


def leading_zeros(s):
    """(start, end) of the leading zeros when the first digit of s (before any +) starts 00."""
    for i, c in enumerate(s):
        if c in PLUS_CHARS:
            return None
        if unicodedata.decimal(c, None) is not None:
            break
    else:
        return None
    zeros, end = 0, i
    for j in range(i, len(s)):
        c = s[j]
        d = unicodedata.decimal(c, None)
        if d == 0:
            zeros, end = zeros + 1, j + 1
        elif d is not None or not (c.isspace() or c in IDD_SEPARATORS):
            break
    return (i, end) if zeros >= 2 else None


def parse_error_name(e):
    return {0: "INVALID_COUNTRY_CODE", 1: "NOT_A_NUMBER", 2: "TOO_SHORT_AFTER_IDD",
            3: "TOO_SHORT_NSN", 4: "TOO_LONG"}.get(e.error_type, str(e.error_type))


def contract_parse(inp, default):
    """The number the contract reads in a cell (a phonenumbers PhoneNumber), or a failure name."""
    s = strip_artefacts(inp)
    if not s:
        return "EMPTY"
    if SCIENTIFIC.match(s):
        return "SCIENTIFIC"
    region = resolve_default(default)
    idd = leading_zeros(s)
    if idd:
        if region:
            try:
                n = pn.parse(s, region, keep_raw_input=True)
                if (n.country_code_source == pn.CountryCodeSource.FROM_NUMBER_WITH_IDD
                        and pn.is_valid_number(n)):
                    return n
            except pn.NumberParseException:
                pass
        s = s[:idd[0]] + "+" + s[idd[1]:]
    try:
        return pn.parse(s, region)
    except pn.NumberParseException as e:
        return "PARSE:" + parse_error_name(e)


def ref_verdict(inp, default):
    """(valid, key, type) for one cell."""
    n = contract_parse(inp, default)
    if isinstance(n, str):
        return 0, "", n
    key = f"{n.country_code:04d}-{pn.national_significant_number(n)}"
    if not pn.is_valid_number(n):
        poss = POSSIBLE_NAMES.get(pn.is_possible_number_with_reason(n), "?")
        return 0, key, "NOT_VALID:" + poss
    t = pn.number_type(n)
    tname = TYPE_NAMES.get(t, str(t))
    if n.extension:
        tname = "EXT:" + tname
    if t not in MOBILE_TYPES:
        return 0, key, tname
    if n.country_code > 99:
        return 0, key, "CC3:" + tname
    if len(key) > 64:
        return 0, key, "TOO_LONG_KEY"
    return 1, key, tname


class Corpus:
    def __init__(self):
        self.rows = []
        self.seen = set()

    def add(self, inp, default, case):
        default = "" if default is None else str(default)
        if (inp, default) in self.seen:
            return
        assert "\t" not in inp and "\n" not in inp and "\r" not in inp, repr(inp)
        self.seen.add((inp, default))
        valid, key, typ = ref_verdict(inp, default)
        self.rows.append((inp, default, str(valid), key, typ, case))


def digits(s):
    return "".join(c for c in s if c.isdigit())


def sub_digits(rnd, s, k, start=0):
    """Replace k random digits of s at digit positions >= start (counting digits)."""
    pos = [i for i, c in enumerate(s) if c.isdigit()][start:]
    if not pos:
        return s
    out = list(s)
    for i in rnd.sample(pos, min(k, len(pos))):
        out[i] = rnd.choice([d for d in "0123456789" if d != out[i]])
    return "".join(out)


def drop_digits(rnd, s, k, start=0):
    pos = [i for i, c in enumerate(s) if c.isdigit()][start:]
    if len(pos) <= k:
        return s
    drop = set(rnd.sample(pos, k))
    return "".join(c for i, c in enumerate(s) if i not in drop)


def reseparate(rnd, s):
    """Same digits, other separators."""
    style = rnd.randrange(5)
    if style == 0:
        return s.replace(" ", ".")
    if style == 1:
        return s.replace(" ", "-")
    if style == 2:
        return s.replace(" ", NBSP)
    if style == 3:
        return "  " + s + " "
    return s.replace(" ", "")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "phones.tsv")
    rnd = random.Random(SEED)
    c = Corpus()

    def region_form(r):
        return r

    def cc_form(r):
        return str(pn.country_code_for_region(r))

    def any_default(r):
        """Random default of one of the three forms (possibly unrelated to r)."""
        k = rnd.randrange(3)
        if k == 0:
            return ""
        if k == 1:
            return rnd.choice(REGIONS)
        return str(rnd.choice(CALLING_CODES))

    def own_default(r):
        """A default that means r (region form, or calling-code form when r is the main region;
        calling-code form of a shared code otherwise, which resolves to another region)."""
        return region_form(r) if rnd.random() < 0.5 else cc_form(r)

    handcrafted(c)

    examples = []
    for r in REGIONS:
        for t in ALL_TYPES:
            n = pn.example_number_for_type(r, t)
            if n is not None:
                examples.append((r, t, n))
    by_region = {}
    for r, t, n in examples:
        by_region.setdefault(r, []).append(n)

    for r, t, n in examples:
        tname = TYPE_NAMES[t]
        cc = n.country_code
        nsn = pn.national_significant_number(n)
        e164 = pn.format_number(n, F.E164)
        intl = pn.format_number(n, F.INTERNATIONAL)
        nat = pn.format_number(n, F.NATIONAL)
        natd = digits(nat)
        ccs = str(cc)
        tag = lambda s: f"{s}"  # noqa: E731
        mobile = pn.number_type(n) in MOBILE_TYPES
        # --- the example in every format
        c.add(e164, "", tag("e164"))
        c.add(e164, rnd.choice(REGIONS), tag("e164"))
        c.add(e164, str(rnd.choice(CALLING_CODES)), tag("e164"))
        c.add(intl, any_default(r), tag("intl"))
        c.add("00" + intl[1:], "", tag("00intl"))
        c.add("00" + e164[1:], any_default(r), tag("00intl"))
        c.add("(+" + ccs + ") " + intl[len(ccs) + 2:], any_default(r), tag("paren_cc"))
        c.add(nat, region_form(r), tag("national"))
        c.add(nat, cc_form(r), tag("national"))
        c.add(nat, "", tag("national_nodefault"))
        c.add(natd, own_default(r), tag("national_digits"))
        c.add(nsn, own_default(r), tag("nsn_digits"))
        c.add(ccs + nsn, region_form(r), tag("cc_digits_noplus"))
        c.add(ccs + nsn, cc_form(r), tag("cc_digits_noplus"))
        c.add(reseparate(rnd, intl), any_default(r), tag("reseparated"))
        c.add(reseparate(rnd, nat), own_default(r), tag("reseparated_national"))
        if natd != nsn and natd.endswith(nsn) and natd[:-len(nsn)] == "0":
            c.add(f"+{ccs} (0){nsn}", any_default(r), tag("plus_cc_paren0"))
        # wrong region: national digits with another region's default
        c.add(nat, rnd.choice(REGIONS), tag("national_other_region"))
        # --- mutations
        for form, base, dflt in (("e164", e164, ""), ("national", nat, region_form(r))):
            k = rnd.randint(1, 5)
            c.add(base + "".join(rnd.choice("0123456789") for _ in range(k)), dflt, f"extra_digits_{form}")
            c.add(base + " " + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 5))),
                  dflt if rnd.random() < 0.5 else own_default(r) if form == "national" else any_default(r),
                  f"extra_digits_{form}")
            start = len(ccs) + 0 if form == "e164" else 0
            c.add(drop_digits(rnd, base, rnd.randint(1, 2), start), dflt, f"dropped_digits_{form}")
        other = rnd.choice(by_region[r])
        c.add(e164 + "/" + pn.format_number(other, F.E164), any_default(r), "two_numbers")
        c.add(nat + " / " + pn.format_number(other, F.NATIONAL), own_default(r), "two_numbers")
        c.add(nsn + "/" + pn.national_significant_number(other), own_default(r), "two_numbers")
        c.add(ccs + nsn + ".0", own_default(r), "trailing_.0")
        c.add(natd + ".0", own_default(r), "trailing_.0")
        c.add(e164 + ".0", "", "trailing_.0")
        c.add("'" + e164, any_default(r), "artefact_quote")
        c.add('="' + e164 + '"', any_default(r), "artefact_formula")
        c.add("'" + natd, own_default(r), "artefact_quote")
        c.add('="' + nat + '"', own_default(r), "artefact_formula")
        c.add("'" + intl, "", "artefact_quote")
        # wrong calling code in front of this NSN
        wrong = rnd.choice([x for x in CALLING_CODES if x != cc])
        c.add(f"+{wrong}{nsn}", "", "wrong_cc")
        # random digit substitutions: unassigned ranges, or other valid numbers
        nsub = 12 if mobile else 3
        for i in range(nsub):
            k = rnd.randint(1, 3)
            if i % 3 == 0:
                c.add(sub_digits(rnd, e164, k, len(ccs)), "", "substituted")
            elif i % 3 == 1:
                c.add(sub_digits(rnd, intl, k, len(ccs)), any_default(r), "substituted")
            else:
                c.add(sub_digits(rnd, nat, k, len(natd) - len(nsn)), own_default(r), "substituted_national")
        # other numbers of the same range (substitutions in the last 4 digits): mostly valid,
        # so that keys get compared across many formats and defaults
        if mobile:
            ntail = 20 if cc < 100 else 4
            for i in range(ntail):
                k = rnd.randint(1, 3)
                nd = len(digits(e164))
                fmt = i % 5
                if fmt == 0:
                    c.add(sub_digits(rnd, e164, k, nd - 4), any_default(r), "tail_substituted")
                elif fmt == 1:
                    c.add(sub_digits(rnd, intl, k, nd - 4), any_default(r), "tail_substituted")
                elif fmt == 2:
                    c.add("00" + sub_digits(rnd, e164, k, nd - 4)[1:], any_default(r), "tail_substituted")
                elif fmt == 3:
                    c.add(sub_digits(rnd, nat, k, len(natd) - 4), own_default(r), "tail_substituted_national")
                else:
                    c.add(reseparate(rnd, sub_digits(rnd, nat, k, len(natd) - 4)), own_default(r),
                          "tail_substituted_national")
        # characters outside the plain forms (read as phonenumbers reads them)
        if rnd.random() < 0.15:
            c.add(rnd.choice([e164 + "a", e164 + " ext. 12", "tel:" + e164, e164 + "#",
                              e164 + ";ext=1", "x" + e164, e164 + ",", nat + " (home)"]),
                  own_default(r), "bad_chars")

    for cc in sorted(pn.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        n = pn.example_number_for_non_geo_entity(cc)
        if n is None:
            continue
        e164 = pn.format_number(n, F.E164)
        c.add(e164, "", "non_geo")
        c.add(pn.format_number(n, F.INTERNATIONAL), "CN", "non_geo")
        c.add("00" + e164[1:], "", "non_geo")
        for _ in range(3):
            c.add(sub_digits(rnd, e164, 1, 3), "", "non_geo")

    # What input methods, tel: links and pasted text make of numbers (issue 20); last, so that
    # the rows above stay as they were.
    typed_forms(c, rnd, examples, own_default)

    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# phonenumbers {pn.__version__}; gen_phones.py seed {SEED}; {len(c.rows)} rows\n")
        f.write("input\tdefault_country\tvalid\tkey\ttype\tcase\n")
        for row in c.rows:
            f.write("\t".join(row) + "\n")
    nvalid = sum(1 for r in c.rows if r[2] == "1")
    print(f"{out}: {len(c.rows)} rows, {nvalid} valid, phonenumbers {pn.__version__}", file=sys.stderr)


# Digits other scripts type: ASCII digit d becomes chr(zero + d).
DIGIT_ZEROS = {"fullwidth": 0xFF10, "arabic_indic": 0x0660, "persian": 0x06F0, "devanagari": 0x0966,
               "mongolian": 0x1810, "bengali": 0x09E6, "thai": 0x0E50}
# How an input method or a paste dresses a number up; each takes (international, national).
DRESSINGS = {
    "fullwidth_plus": lambda i, n: "\uff0b" + i[1:],
    "ideographic_space": lambda i, n: i.replace(" ", "\u3000"),
    "katakana_dash": lambda i, n: i.replace(" ", "\u30fc"),
    "fullwidth_dash": lambda i, n: i.replace(" ", "\uff0d"),
    "fullwidth_parens": lambda i, n: "\uff08" + i.split(" ", 1)[0] + "\uff09" + i.split(" ", 1)[-1],
    "tel_uri": lambda i, n: "tel:" + i.replace(" ", "-"),
    "tel_uri_context": lambda i, n: "tel:" + n.replace(" ", "-") + ";phone-context=" + i.split(" ")[0],
    "label_tel": lambda i, n: "Tel: " + i,
    "label_mobile": lambda i, n: "Mobile: " + i,
    "label_shouji": lambda i, n: "\u624b\u673a\uff1a" + i,
    "label_shouji_ascii_colon": lambda i, n: "\u624b\u673a:" + i,
    "soft_hyphen": lambda i, n: i.replace(" ", "\u00ad"),
    "zero_width_space": lambda i, n: i.replace(" ", "\u200b", 1),
    "word_joiner": lambda i, n: "\u2060" + i,
    "bom": lambda i, n: "\ufeff" + i,
    "lrm": lambda i, n: "\u200e" + i + "\u200e",
    "ext_dot": lambda i, n: i + " ext. 12",
    "ext_x": lambda i, n: i + " x12",
    "ext_hash": lambda i, n: i + " #12",
    "ext_rfc3966": lambda i, n: "tel:" + i.replace(" ", "") + ";ext=12",
    "ext_semicolon": lambda i, n: i.replace(" ", "") + ";ext=12",
    "ext_commas": lambda i, n: i.replace(" ", "") + ",,12",
    "ext_word": lambda i, n: i + " extension 345",
    "trailing_letter": lambda i, n: i + "a",
    "trailing_note": lambda i, n: i + " (mobile)",
}


def typed_forms(c, rnd, examples, own_default):
    """Each sms-capable example (and a share of the others) in other digits and dressings,
    in international form with no default and in national form with its own default."""
    for r, t, n in examples:
        mobile = pn.number_type(n) in MOBILE_TYPES
        if not mobile and rnd.random() > 0.2:
            continue
        intl = pn.format_number(n, F.INTERNATIONAL)
        nat = pn.format_number(n, F.NATIONAL)
        for name in rnd.sample(sorted(DIGIT_ZEROS), 2):
            zero = DIGIT_ZEROS[name]
            conv = lambda s: "".join(chr(zero + int(ch)) if ch.isdigit() else ch for ch in s)  # noqa: E731
            c.add(conv(intl), "", "digits_" + name)
            c.add(conv(nat), own_default(r), "digits_" + name + "_national")
        for name in rnd.sample(sorted(DRESSINGS), 4):
            form = DRESSINGS[name](intl, nat)
            c.add(form, "" if rnd.random() < 0.5 else own_default(r), name)
        # the fullwidth form of everything an IME types, with and without a default
        fw = "".join(chr(0xFF10 + int(ch)) if ch.isdigit() else ch for ch in intl)
        c.add("\uff0b" + fw[1:].replace(" ", "\u3000"), "", "ime_fullwidth")
        c.add("".join(chr(0xFF10 + int(ch)) if ch.isdigit() else ch for ch in nat).replace(" ", "\u3000"),
              own_default(r), "ime_fullwidth_national")
    # Another region's own international prefix in front of a number (AU 0011, SG 001, US 011,
    # JP 010, ...), with that region as the default and with others.
    regions = sorted({r for r, _, _ in examples})
    mobiles = [(r, n) for r, t, n in examples if pn.number_type(n) in MOBILE_TYPES]
    for _ in range(600):
        home = rnd.choice(regions)
        md = pn.PhoneMetadata.metadata_for_region(home)
        prefix = md.preferred_international_prefix or md.international_prefix
        if not prefix or not prefix.isdigit():
            continue
        _, n = rnd.choice(mobiles)
        body = pn.format_number(n, F.INTERNATIONAL)[1:]
        c.add(prefix + " " + body, home, "own_idd")
        c.add(prefix + " " + body, rnd.choice(regions), "own_idd_other_default")
        c.add("00" + body, home, "00_with_default")


def handcrafted(c):
    H = [
        ("+86 138-0013-8000", ""), ("+86 138-0013-8000", "US"), ("+1 415 555 0100", ""),
        ("+39 02 1234 5678", ""), ("+39 312 345 6789", ""), ("02 1234 5678", "IT"), ("312 345 6789", "39"),
        ("8 (800) 123-45-67", "RU"), ("8 (912) 345-67-89", "RU"), ("8 (912) 345-67-89", "7"),
        ("+7 (912) 345-67-89", ""), ("8 912 345 67 89", "KZ"), ("89123456789", "RU"),
        ("06 20 123 4567", "HU"), ("06 20 123 4567", "36"), ("06201234567", "HU"), ("+36 20 123 4567", ""),
        ("0036 20 123 4567", ""), ("8613800138000", "CN"), ("8613800138000", "86"), ("8613800138000", ""),
        ("13800138000", "CN"), ("13800138000", "86"), ("13800138000", ""), ("+8613800138000", ""),
        ("008613800138000", ""), ("008613800138000", "US"), ("0086 138 0013 8000", "GB"),
        ("(+86) 138 0013 8000", ""), ("(+86)13800138000", "CN"), ("+86 (138) 0013 8000", ""),
        ("+17582845", ""), ("+1 758 284 5", ""), ("+1 758 284 5678", ""), ("+1 (758) 284-5678", "US"),
        ("'+8613800138000", ""), ('="+8613800138000"', ""), ("'13800138000", "CN"), ('="13800138000"', "86"),
        ("8.6138E+12", "CN"), ("8.6138E+12", ""), ("8,61380013800E+12", "CN"), ("8613800138000.0", "CN"),
        ("13800138000.0", "CN"), ("+86 138 0013 8000 / +86 139 0013 9000", ""),
        ("13800138000/13900139000", "CN"), ("13800138000 13900139000", "CN"),
        ("+86 138 0013 80001", ""), ("+86 138 0013 800", ""), ("+86 138 0013 8000 0", ""),
        ("+44 7400 123456", ""), ("07400 123456", "GB"), ("07400 123456", "44"), ("+44 (0)7400 123456", ""),
        ("+44 20 7946 0958", ""), ("020 7946 0958", "GB"), ("+49 1512 3456789", ""), ("01512 3456789", "DE"),
        ("+49 (0)1512 3456789", ""), ("+33 6 12 34 56 78", ""), ("06 12 34 56 78", "FR"),
        ("06.12.34.56.78", "FR"), ("+34 612 34 56 78", ""), ("+61 412 345 678", ""), ("0412 345 678", "AU"),
        ("+55 11 96123 4567", ""), ("(11) 96123-4567", "BR"), ("+52 1 55 1234 5678", ""),
        ("+52 55 1234 5678", ""), ("+91 98765 43210", ""), ("098765 43210", "IN"), ("+81 90-1234-5678", ""),
        ("090-1234-5678", "JP"), ("+82 10-1234-5678", ""), ("010-1234-5678", "KR"),
        ("+852 5123 4567", ""), ("+853 6612 3456", ""), ("+886 912 345 678", ""), ("+880 1812-345678", ""),
        ("+971 50 123 4567", ""), ("+966 50 123 4567", ""), ("+234 802 123 4567", ""),
        ("+1 800 555 0199", ""), ("1-800-555-0199", "US"), ("1-800-FLOWERS", "US"), ("+1 (415) 555-0100", ""),
        ("415.555.0100", "US"), ("415-555-0100", "1"), ("(415) 555-0100", "CA"), ("+1 204 234 5678", ""),
        ("204 234 5678", "US"), ("+7 700 123 4567", ""), ("8 700 123 4567", "RU"), ("8 700 123 4567", "KZ"),
        ("+86 138 0013 8000 ext 12", ""), ("+86 138 0013 8000 x12", ""), ("tel:+86-138-0013-8000", ""),
        ("+86\u00a0138\u00a00013\u00a08000", ""), ("\u00a0+8613800138000\u00a0", ""),
        ("+86-138-0013-8000-", ""), ("++8613800138000", ""), ("+ 86 138 0013 8000", ""),
        ("+86 138 0013 8000.", ""), ("(+86 138 0013 8000", ""), ("+86) 138 0013 8000", ""),
        ("+0086 138 0013 8000", ""), ("0 086 138 0013 8000", ""), ("+", ""), ("00", "CN"), ("0", "CN"),
        ("-", ""), ("+86", ""), ("86", "CN"), ("1", "US"), ("+8", ""), ("+999 123 4567", ""),
        ("+800 1234 5678", ""), ("+870 301 234 567", ""), ("+882 3421 2345", ""),
        ("+86 138 0013 8000\u200b", ""),
        # issue 20: what Chinese and Japanese input methods, tel: links and pastes make of numbers
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "CN"),
        ("\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", ""),
        ("\uff0b86 138 0013 8000", ""), ("\uff0b\uff18\uff16\u3000\uff11\uff13\uff18", ""),
        ("\uff0b\uff18\uff16\u3000\uff11\uff13\uff18\u3000\uff10\uff10\uff11\uff13\u3000\uff18\uff10\uff10\uff10", ""),
        ("\uff10\uff10\uff18\uff16\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", ""),
        ("090\u30fc1234\u30fc5678", "JP"), ("\uff10\uff19\uff10\u30fc\uff11\uff12\uff13\uff14\u30fc\uff15\uff16\uff17\uff18", "JP"),
        ("+\u0669\u0667\u0661 \u0665\u0660 \u0661\u0662\u0663 \u0664\u0665\u0666\u0667", ""),
        ("\u06f0\u06f9\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9", "IR"),
        ("+\u096f\u0967 \u096f\u096e\u096d\u096c\u096b \u096a\u0969\u0968\u0967\u0966", ""),
        ("+\u1817\u1816 \u1819\u1818\u1817\u1816 \u1815\u1814\u1813\u1812", ""),
        ("tel:+86-138-0013-8000;phone-context=+86", ""), ("tel:138-0013-8000;phone-context=+86", ""),
        ("tel:138-0013-8000;phone-context=+86", "US"), ("tel:+8613800138000;ext=12", ""),
        ("Tel: +86 138 0013 8000", ""), ("Mobile: +86 138 0013 8000", ""), ("\u624b\u673a:13800138000", "CN"),
        ("\u624b\u673a\uff1a\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10", "CN"),
        ("+86 138\u00ad0013\u00ad8000", ""), ("\u200e+86 138 0013 8000\u200e", ""),
        ("\ufeff+86 138 0013 8000", ""), ("+86 138 0013 8000 ext. 12", ""), ("+86 138 0013 8000 x12", ""),
        ("+86 138 0013 8000 #12", ""), ("+8613800138000;ext=12", ""), ("+8613800138000,,12", ""),
        ("+1-800-FLOWERS", ""), ("1-800-FLOWERS", "US"), ("+44 7400 TEXTME", ""),
        ("0011 86 138 0013 8000", "AU"), ("0011 86 138 0013 8000", "61"), ("0086 138 0013 8000", "AU"),
        ("0011 61 412 345 678", "AU"), ("001 86 138 0013 8000", "SG"), ("0086 138 0013 8000", "SG"),
        ("011 86 138 0013 8000", "US"), ("0011 86 138 0013 8000", "CN"), ("0011 86 138 0013 8000", ""),
        ("010 86 138 0013 8000", "JP"), ("0001-4155550100", ""), ("0086-13800138000", "AU"),
        ("+86 13800138000 / +86 13900139000", ""), ("13800138000, 13900139000", "CN"),
        ("13800138000;13900139000", "CN"), ("13800138000\u300113900139000", "CN"),
    ]
    for inp, d in H:
        c.add(inp, d, "handcrafted")


if __name__ == "__main__":
    main()
