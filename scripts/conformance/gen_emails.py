#!/usr/bin/env python3
"""Generate the email conformance corpus (emails.tsv) with a reference verdict from
email-validator plus the contract's own rules.

usage: python3 scripts/conformance/gen_emails.py [OUT.tsv]   (default: emails.tsv beside this file)

Deterministic: fixed seed; depends only on the email-validator (and idna) version, recorded in
the header comment of the TSV.

Columns (tab-separated, no quoting; no field contains a tab, CR or LF):
  input        the cell as it would appear in a lead list
  valid        1 / 0: the reference verdict (see ref_verdict below)
  key_unicode  local part as given + '@' + email-validator's (UTS-46 normalized, lower-case) Unicode
               domain; empty when invalid before the domain could be normalized
  key_ascii    local part as given + '@' + email-validator's ascii_domain (xn-- form)
  reason       the reference's reason for an invalid verdict (email-validator's message, or
               'contract: ...' for the contract's rules on top); empty when valid
  case         which generator produced the row (for grouping disagreements)

Reference verdict (mirrors CONTRACT.md "Normalization and validation", email):
  * trim; strip 'mailto:' prefixes (any case) and surrounding <...> pairs, repeatedly and in any
    order (X, mailto:X, <X>, mailto:<X>, <mailto:X>, <<X>>, mailto:mailto:X); anything else
    ('<X', 'Name <X>') is passed on unchanged, so email-validator rejects it;
  * a full-width at-sign U+FF20 is an '@';
  * email_validator.validate_email(addr, check_deliverability=False, allow_smtputf8=True,
    allow_quoted_local=False, allow_domain_literal=False, allow_display_name=False);
  * then the contract: the local part's non-ASCII characters are letters, marks or decimal
    digits (general category L*, M*, Nd), as given and after NFC; TLD (ascii form) at least 2
    characters and not all digits; not a special-use TLD (test invalid localhost local onion
    arpa); the normalized address at most 64 characters, measured in the form the contract keeps
    (the Unicode key if the given domain has non-ASCII characters, else the ASCII key).
  * key = the NFC-normalized local part (case kept) + '@' + the normalized domain.
"""
import os
import random
import sys
import unicodedata

import email_validator as ev
from email_validator import EmailNotValidError, validate_email

try:
    import idna
    IDNA_VERSION = idna.__version__ if hasattr(idna, "__version__") else "?"
except ImportError:  # pragma: no cover
    IDNA_VERSION = "?"

SEED = 20241129
SPECIAL_TLDS = {"test", "invalid", "localhost", "local", "onion", "arpa"}


def strip_wrappers(s):
    """mailto: prefixes (any case: URI schemes are case-insensitive) and pairs of <>, repeated."""
    s = s.strip()
    while True:
        t = s
        if t[:7].lower() == "mailto:":
            t = t[7:].strip()
        if t.startswith("<") and t.endswith(">"):
            t = t[1:-1].strip()
        if t == s:
            return s
        s = t


def local_allowed(c):
    return c.isascii() or unicodedata.category(c)[0] in "LM" or unicodedata.category(c) == "Nd"


def ref_verdict(inp):
    """(valid, key_unicode, key_ascii, reason)."""
    addr = strip_wrappers(inp).replace("\uff20", "@")
    try:
        r = validate_email(addr, check_deliverability=False, allow_smtputf8=True,
                           allow_quoted_local=False, allow_domain_literal=False,
                           allow_display_name=False)
    except EmailNotValidError as e:
        return 0, "", "", str(e)
    given_local = addr.rsplit("@", 1)[0]
    local = unicodedata.normalize("NFC", given_local)
    given_domain = addr.rsplit("@", 1)[1]
    ku = f"{local}@{r.domain}"
    ka = f"{local}@{r.ascii_domain}"
    tld = r.ascii_domain.rsplit(".", 1)[-1].lower()
    bad = sorted({c for c in given_local + local if not local_allowed(c)})
    if bad:
        return 0, ku, ka, ("contract: non-ASCII character that is not a letter, mark or digit "
                           "before the @-sign: " + " ".join(f"U+{ord(c):04X}" for c in bad))
    if len(tld) < 2:
        return 0, ku, ka, "contract: TLD shorter than 2 characters"
    if tld.isdigit():
        return 0, ku, ka, "contract: TLD all digits"
    if tld in SPECIAL_TLDS:
        return 0, ku, ka, "contract: special-use TLD"
    kept = ka if given_domain.isascii() else ku
    if len(kept) > 64:
        return 0, ku, ka, f"contract: longer than 64 characters ({len(kept)})"
    return 1, ku, ka, ""


class Corpus:
    def __init__(self):
        self.rows = []
        self.seen = set()

    def add(self, inp, case):
        if inp in self.seen:
            return
        assert not any(c in inp for c in "\t\r\n"), repr(inp)
        self.seen.add(inp)
        valid, ku, ka, reason = ref_verdict(inp)
        self.rows.append((inp, str(valid), ku, ka, reason.replace("\t", " ").replace("\n", " "), case))


FIRST = ["john", "mary", "li", "wei", "zhang", "anna", "jose", "mohamed", "olga", "kim", "tom", "ivan",
         "sara", "chen", "yuki", "ahmet", "lucas", "emma", "noah", "mia", "ali", "fatima", "raj", "priya"]
LAST = ["smith", "wang", "mueller", "garcia", "rossi", "ivanov", "kowalski", "nguyen", "yilmaz", "tanaka",
        "silva", "dubois", "jansen", "novak", "kumar", "lee", "park", "hansen", "costa", "fischer"]
ASCII_DOMAINS = ["example.com", "gmail.com", "qq.com", "163.com", "web.de", "gmx.net", "huawei.com",
                 "yahoo.co.jp", "mail.ru", "yandex.ru", "outlook.com", "orange.fr", "libero.it",
                 "company.co.uk", "uni-heidelberg.de", "sub.domain.example.org", "a.io", "x.museum",
                 "shop.travel", "corp.com.cn", "firm.com.tr", "host.info", "my-company.net", "t-online.de",
                 "example.xn--fiqs8s", "example.xn--p1ai", "x1.co", "1und1.de", "123.com", "a-b.c-d.org"]
IDN_DOMAINS = [  # (unicode, ascii) pairs
    "例子.中国", "例え.jp", "bücher.de", "münchen.de", "straße.de", "İstanbul.com.tr", "ıstanbul.com.tr",
    "пример.рф", "почта.рус", "한국.kr", "ไทย.ไทย", "éxample.fr", "zürich.ch", "ñandú.es",
    "παράδειγμα.gr", "דוגמה.co.il", "مثال.com", "उदाहरण.भारत", "例子.公司", "華為.com", "東京.jp",
    "españa.com", "ärzte.at", "kožušček.si", "øl.no", "smörgås.se", "Bücher.DE", "ÉCOLE.fr",
]
SPECIAL_CHARS_OK = "!#$%&'*+-/=?^_`{|}~"
BAD_LOCAL_CHARS = ";\\(),:<>[]\" @"
INVISIBLE = ["\u200b", "\u00ad", "\u200c", "\u200d", "\ufeff", "\u200e", "\u200f", "\u2060", "\u2028",
             "\u0001", "\u007f", "\u00a0", "\u3000"]
LOCAL_UTF8 = ["用户", "josé", "müller", "пользователь", "δοκιμή", "ユーザー", "사용자", "ñoño", "a\u0301b"]


def to_ascii(domain):
    try:
        r = validate_email("a@" + domain, check_deliverability=False, allow_smtputf8=True,
                           test_environment=True, globally_deliverable=False)
        return r.ascii_domain
    except EmailNotValidError:
        return domain


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "emails.tsv")
    rnd = random.Random(SEED)
    c = Corpus()

    handcrafted(c)

    def local_good():
        k = rnd.randrange(10)
        f, l = rnd.choice(FIRST), rnd.choice(LAST)
        if k == 0:
            return f
        if k == 1:
            return f"{f}.{l}"
        if k == 2:
            return f"{f}+{rnd.choice(['tag', 'news', 'x', '2024', 'a.b'])}"
        if k == 3:
            return f"{f}{rnd.randint(1, 99999)}"
        if k == 4:
            return f"{f[0]}.{l}.{rnd.randint(1, 99)}"
        if k == 5:
            return (f + "." + l).title().replace(".", rnd.choice([".", "_", "-"]))
        if k == 6:
            return f"{f}{rnd.choice(SPECIAL_CHARS_OK)}{l}"
        if k == 7:
            return str(rnd.randint(10000, 999999999))
        if k == 8:
            return f"{f}_{l}".upper()
        return f"{f}-{l}+{rnd.randint(0, 9)}"

    def domain_good():
        k = rnd.randrange(10)
        if k < 6:
            d = rnd.choice(ASCII_DOMAINS)
            return d.upper() if rnd.random() < 0.1 else d
        d = rnd.choice(IDN_DOMAINS)
        if k == 6:
            return to_ascii(d)
        if k == 7:
            return d.replace(".", rnd.choice(["。", "．", "｡"]))
        return d

    # good shapes
    for _ in range(3000):
        addr = f"{local_good()}@{domain_good()}"
        w = rnd.randrange(12)
        if w == 0:
            addr = "mailto:" + addr
        elif w == 1:
            addr = "<" + addr + ">"
        elif w == 2:
            addr = "  " + addr + " "
        elif w == 3:
            addr = rnd.choice(["mailto:<", "<mailto:"]) + addr + ">"
        c.add(addr, "good")
    for _ in range(200):
        c.add(f"{rnd.choice(LOCAL_UTF8)}@{domain_good()}", "utf8_local")

    # length boundary: total 60..70 characters
    for _ in range(300):
        target = rnd.randint(58, 72)
        d = rnd.choice(ASCII_DOMAINS + IDN_DOMAINS[:6] + [to_ascii(x) for x in IDN_DOMAINS[:6]])
        n = target - len(d) - 1
        if n < 1 or n > 64:
            continue
        base = rnd.choice(FIRST) + "." + rnd.choice(LAST)
        local = (base * 8)[:n].strip(".")
        c.add(f"{local}@{d}", "length_boundary")
    for _ in range(60):
        c.add("a" * rnd.randint(65, 90) + "@example.com", "too_long")
        c.add("x@" + ".".join("sub" + str(i) for i in range(rnd.randint(12, 20))) + ".com", "too_long")
        c.add("x@" + "a" * rnd.randint(60, 70) + ".com", "too_long")

    # bad local parts
    for _ in range(600):
        l = local_good()
        pos = rnd.randint(0, len(l))
        ch = rnd.choice(BAD_LOCAL_CHARS)
        c.add(f"{l[:pos]}{ch}{l[pos:]}@{domain_good()}", "bad_local_char")
    for _ in range(400):
        l, d = local_good(), domain_good()
        inv = rnd.choice(INVISIBLE)
        where = rnd.randrange(4)
        if where == 0:
            addr = f"{l[:2]}{inv}{l[2:]}@{d}"
        elif where == 1:
            addr = f"{l}@{d[:3]}{inv}{d[3:]}"
        elif where == 2:
            addr = f"{l}{inv}@{d}"
        else:
            addr = f"{l}@{d}{inv}x"
        c.add(addr, "invisible_char")
    for _ in range(250):
        l, d = local_good(), domain_good()
        k = rnd.randrange(6)
        addr = [f".{l}@{d}", f"{l}.@{d}", f"{l[:2]}..{l[2:]}@{d}", f"{l}@.{d}", f"{l}@{d}.",
                f"{l}@{d.replace('.', '..', 1)}"][k]
        c.add(addr, "dots")
    for _ in range(200):
        l, d = local_good(), domain_good()
        k = rnd.randrange(6)
        addr = [f'"{l}"@{d}', f'"{l} x"@{d}', f'""@{d}', f'"{l}\\"x"@{d}', f'{l}."x"@{d}',
                f'"{l}@x"@{d}'][k]
        c.add(addr, "quoted_local")

    # bad domains
    for _ in range(300):
        l = local_good()
        k = rnd.randrange(12)
        label = rnd.choice(["example", "mail", "corp", "xn--zz", "xn--", "xn--a", "XN--ZZ", "xn--fsqu00a"])
        addr = [
            f"{l}@{label}.com", f"{l}@example.co{rnd.randint(0, 9)}", f"{l}@example.{rnd.randint(0, 999)}",
            f"{l}@example.{rnd.choice('abcxyz')}", f"{l}@{rnd.randint(1, 255)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 255)}",
            f"{l}@[{rnd.randint(1, 255)}.0.0.1]", f"{l}@-example.com", f"{l}@example-.com",
            f"{l}@exa_mple.com", f"{l}@example", f"{l}@localhost", f"{l}@ex ample.com",
        ][k]
        c.add(addr, "bad_domain")
    for _ in range(300):
        l = local_good()
        tld = rnd.choice(sorted(SPECIAL_TLDS))
        tld = tld.upper() if rnd.random() < 0.2 else tld
        dom = rnd.choice(["example", "foo.bar", "my-host", "例子", "bücher"])
        c.add(f"{l}@{dom}.{tld}", "special_use_tld")
    for _ in range(100):
        l = local_good()
        c.add(f"{l}@{rnd.choice(['example', 'x', 'mail.example'])}.{rnd.choice(['example', 'localdomain', 'internal', 'lan', 'home', 'corp', 'intranet'])}", "reserved_like_tld")

    # structure and wrappers
    for _ in range(300):
        l, d = local_good(), domain_good()
        k = rnd.randrange(14)
        addr = [
            f"{l}{d}", f"{l}@@{d}", f"{l}@{l}@{d}", f"@{d}", f"{l}@", f"<{l}@{d}", f"{l}@{d}>",
            f"{rnd.choice(FIRST).title()} <{l}@{d}>", f"mailto:{l}@{d}?subject=hi", f"MAILTO:{l}@{d}",
            f"<<{l}@{d}>>", f"mailto: {l}@{d}", f"{l}@{d},{l}@{d}", f"{l}@{d}; {l}2@{d}",
        ][k]
        c.add(addr, "structure")

    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# email-validator {ev.__version__}; idna {IDNA_VERSION}; gen_emails.py seed {SEED}; {len(c.rows)} rows\n")
        f.write("input\tvalid\tkey_unicode\tkey_ascii\treason\tcase\n")
        for row in c.rows:
            f.write("\t".join(row) + "\n")
    nvalid = sum(1 for r in c.rows if r[1] == "1")
    print(f"{out}: {len(c.rows)} rows, {nvalid} valid, email-validator {ev.__version__}", file=sys.stderr)


def handcrafted(c):
    H = [
        "ti;g@example.com", "bl\\j@huawei.com", "vuye(ijdc@web.de", "<doqt34ig@huawei.com", '""@web.de',
        "a\u200b@example.com", "a@exam\u200bple.com", "a@bü\u00adcher.de", "so\u00adft@example.com",
        "a@xn--zz.com", "a@example.co1", "a@example.123", "a@example.c", "a@x.test", "a@x.invalid",
        "a@x.localhost", "a@x.local", "a@x.onion", "a@x.arpa", "a@1.1.1.1.in-addr.arpa", "a@localhost",
        "user@example.com", "User.Name+tag@Example.COM", "mailto:user@example.com", "<user@example.com>",
        "mailto:<user@example.com>", "<mailto:user@example.com>", " user@example.com ",
        "a@例子.中国", "a@例子。中国", "a@xn--fsqu00a.xn--fiqs8s", "a@bücher.de", "a@xn--bcher-kva.de",
        "a@İstanbul.com.tr", "a@BÜCHER.DE", "a@ｅｘａｍｐｌｅ．ｃｏｍ", "用户@例子.中国", "'quote@example.com",
        "-dash@example.com", "=eq@example.com", "+plus@example.com", "o'brien@example.ie",
        '"john doe"@example.com', '"john"@example.com', "john..doe@example.com", ".john@example.com",
        "john.@example.com", "john@example..com", "john@.example.com", "john@example.com.",
        "a" * 64 + "@example.com", "a" * 52 + "@example.com", "a" * 53 + "@example.com",
        "a@" + "b" * 58 + ".cn", "a@" + "b" * 59 + ".cn", "john@[127.0.0.1]", "John Doe <john@example.com>",
        "john@example", "john@-example.com", "john@exa_mple.com", "john@example.com\u200b",
        "\ufeffjohn@example.com", "john@ex\u00a0ample.com", "mailto:", "<>", "mailto:<>", "@", "",
        # issue 20
        "e\u0301mile@example.com", "\u00e9mile@example.com", "me.\u037e@example.com", "\u037e@example.com",
        "\uff20@fullwidth.at", "li.wei\uff20qq.com", "\u674e\u5a1c\uff20qq.com", "a\uff20b@example.com",
        "\u1fef@example.com", "a\u1fefb@example.com", "\u20ac@example.com", "pay\u20ac@example.com",
        "\U0001F600@example.com", "smile\U0001F600@example.com", "a\uff1bb@example.com", "a\uff02b@example.com",
        "\uff02@example.com", "a\u3002b@example.com", "\u00b7@example.com", "a\u00b2@example.com",
        "\u0661\u0662\u0663@example.com", "\u0939\u093f\u0902\u0926\u0940@example.com",
        "\u0301abc@example.com", "me@yy--0.tld", "me@yy\uff0d\uff0d0.tld", "me@ab--cd.com", "me@xn--bcher-kva.de",
        "a@e\U0001F600.com", "a@\U0001F600.com", "a@xn--ls8h.la", "a@\u2603.com", "a@xn--n3h.com",
        "a@b\u00e9\u20ac.com", "<<a@b.com>>", "mailto:mailto:a@b.com", "<mailto:<a@b.com>>",
        "mailto:<<a@b.com>>", "<<<a@b.com>>>", "<<a@b.com>", "mailto:MAILTO:a@b.com",
    ]
    for a in H:
        if a:
            c.add(a, "handcrafted")


if __name__ == "__main__":
    main()
