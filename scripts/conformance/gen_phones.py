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
                   or why it failed: BAD_CHARS, PARSE:<error>, NOT_VALID:<possibility>,
                   CC3:<type> (3-digit calling code), EXTENSION
  case             which generator produced the row (for grouping disagreements)

Reference verdict (mirrors CONTRACT.md "Normalization and validation", mobile):
  * trim; strip the spreadsheet artefacts a leading ' or a ="..." wrapper;
  * any character other than ASCII digits, space, - . ( ) + / and NBSP -> invalid (BAD_CHARS)
    (phonenumbers itself skips leading/trailing garbage and letters in some positions);
  * a leading 00 (before any +) is read as + (the contract accepts 00CC whatever the default
    region's international prefix is);
  * phonenumbers.parse(number, default_region or None); a calling-code default means
    phonenumbers.region_code_for_country_code(cc);
  * valid iff the parse succeeds, no extension, is_valid_number, number_type in
    (MOBILE, FIXED_LINE_OR_MOBILE), and the calling code has at most 2 digits.
"""
import os
import random
import sys

import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F
from phonenumbers import PhoneNumberType as T

SEED = 20241129
NBSP = "\u00a0"
ALLOWED = set("0123456789 -.()+/" + NBSP)
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
    elif s.startswith('="') and s.endswith('"') and len(s) >= 3:
        s = s[2:-1].strip()
    return s


def ref_verdict(inp, default):
    """(valid, key, type) for one cell."""
    s = strip_artefacts(inp)
    if not s:
        return 0, "", "EMPTY"
    if any(c not in ALLOWED for c in s):
        return 0, "", "BAD_CHARS"
    # 00CC -> +CC
    for i, c in enumerate(s):
        if c == "+":
            break
        if c.isdigit():
            if s[i:i + 2] == "00":
                s = s[:i] + "+" + s[i + 2:]
            break
    try:
        n = pn.parse(s, resolve_default(default))
    except pn.NumberParseException as e:
        name = {0: "INVALID_COUNTRY_CODE", 1: "NOT_A_NUMBER", 2: "TOO_SHORT_AFTER_IDD",
                3: "TOO_SHORT_NSN", 4: "TOO_LONG"}.get(e.error_type, str(e.error_type))
        return 0, "", "PARSE:" + name
    key = f"{n.country_code:04d}-{pn.national_significant_number(n)}"
    if n.extension:
        return 0, key, "EXTENSION"
    if not pn.is_valid_number(n):
        poss = POSSIBLE_NAMES.get(pn.is_possible_number_with_reason(n), "?")
        return 0, key, "NOT_VALID:" + poss
    t = pn.number_type(n)
    tname = TYPE_NAMES.get(t, str(t))
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
        # characters the contract does not accept (phonenumbers partly ignores them)
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

    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# phonenumbers {pn.__version__}; gen_phones.py seed {SEED}; {len(c.rows)} rows\n")
        f.write("input\tdefault_country\tvalid\tkey\ttype\tcase\n")
        for row in c.rows:
            f.write("\t".join(row) + "\n")
    nvalid = sum(1 for r in c.rows if r[2] == "1")
    print(f"{out}: {len(c.rows)} rows, {nvalid} valid, phonenumbers {pn.__version__}", file=sys.stderr)


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
    ]
    for inp, d in H:
        c.add(inp, d, "handcrafted")


if __name__ == "__main__":
    main()
