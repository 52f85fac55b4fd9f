#!/usr/bin/env python3
"""Extract the phone-number strings of python phonenumbers' own test suite into peer_phones.tsv,
with the contract's reference verdict (gen_phones.ref_verdict: phonenumbers with the production
metadata, plus the contract's rules around it).

usage: python3 scripts/conformance/gen_peer_phones.py [--sdist phonenumbers-X.tar.gz] [OUT.tsv]
       (default OUT: peer_phones.tsv beside this file)

Source: tests/phonenumberutiltest.py as distributed in the phonenumbers sdist on PyPI (the
version installed here; without --sdist it is fetched with
`pip download --no-binary :all: --no-deps phonenumbers==VERSION`). phonenumbers and its test
suite are Copyright (C) 2009-2025 The Libphonenumber Authors and David Drysdale, Apache License
2.0 (https://www.apache.org/licenses/LICENSE-2.0); the strings are copied here as test data.

What is taken: every string expression of the test file (literals, `u("...")`, `+` joins,
`"..." * n`) that holds a decimal digit, except the test's own messages and object dumps (see
NOT_NUMBERS). Each string is paired with no default country, with the region passed next to it
in the call (if any), and with every region its test method names: the suite runs on its own test
metadata, so its expected values do not carry over, but its strings are exactly the shapes
libphonenumber's parser was written for. The verdict is the production phonenumbers' (with the
contract's rules: gen_phones.py's docstring).

Columns: as phones.tsv (input, default_country, valid, key, type, case), plus
  library_valid  1 / 0: phonenumbers alone (parse with the default region, is_valid_number,
                 a mobile type, calling code <= 2 digits), before the contract's rules
  mapping        when valid != library_valid, the documented mapping that decides it
                 (see README.md, "Documented mappings"); case = test method:line.
"""
import ast
import os
import subprocess
import sys
import tarfile
import tempfile
import unicodedata

import phonenumbers as pn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_phones import MOBILE_TYPES, ref_verdict, resolve_default, strip_artefacts  # noqa: E402

TEST_PATH = "tests/phonenumberutiltest.py"
# The test file's own messages and object dumps (not phone numbers).
NOT_NUMBERS = ("PhoneNumber(", "FrozenPhoneNumber(", "PhoneMetadata(", "Country Code", "INVALID (",
               "(0) Country", "Should transform", "The number supplied", "Only IDD provided",
               "This should not parse")


def read_test_file(sdist):
    if sdist is None:
        tmp = tempfile.mkdtemp(prefix="peer-phones-")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        f"phonenumbers=={pn.__version__}", "-d", tmp], check=True)
        sdist = os.path.join(tmp, next(f for f in os.listdir(tmp) if f.endswith(".tar.gz")))
    with tarfile.open(sdist) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/" + TEST_PATH))
        return os.path.basename(sdist), t.extractfile(member).read().decode("utf-8")


def string_value(node):
    """The value of a constant string expression, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "u"
            and len(node.args) == 1):
        return string_value(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = string_value(node.left), string_value(node.right)
        return a + b if a is not None and b is not None else None
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)
            and isinstance(node.right, ast.Constant) and isinstance(node.right.value, int)):
        a = string_value(node.left)
        return a * node.right.value if a is not None else None
    return None


def region_value(node):
    v = string_value(node)
    return v if v in pn.SUPPORTED_REGIONS else None


class Strings(ast.NodeVisitor):
    """(string, region passed beside it or None, test method, line) for every string expression."""

    def __init__(self):
        self.found = []
        self.method = None
        self.method_regions = {}

    def visit_FunctionDef(self, node):
        self.method = node.name
        self.method_regions[node.name] = sorted(
            {v for n in ast.walk(node) if (v := region_value(n)) is not None})
        self.generic_visit(node)

    def visit_Call(self, node):
        for i, arg in enumerate(node.args):
            v = string_value(arg)
            if v is None:
                self.visit(arg)
                continue
            region = region_value(node.args[i + 1]) if i + 1 < len(node.args) else None
            self.found.append((v, region, self.method, arg.lineno))
        for k in node.keywords:
            self.visit(k.value)
        self.visit(node.func)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            self.found.append((node.value, None, self.method, node.lineno))

    def visit_BinOp(self, node):
        v = string_value(node)
        if v is None:
            self.generic_visit(node)
        else:
            self.found.append((v, None, self.method, node.lineno))


def is_number_string(s):
    return (any(unicodedata.decimal(c, None) is not None for c in s)
            and not any(m in s for m in NOT_NUMBERS)
            and not any(c in s for c in "\\${\n\t\r"))


def library_valid(inp, default):
    """phonenumbers alone: the cell as given, the default region as given."""
    try:
        n = pn.parse(inp, resolve_default(default))
    except pn.NumberParseException:
        return 0
    return int(pn.is_valid_number(n) and pn.number_type(n) in MOBILE_TYPES and n.country_code <= 99)


def mapping(inp, default, valid, lib):
    if valid == lib:
        return ""
    s = strip_artefacts(inp)
    if s != inp.strip():
        return "spreadsheet_artefact"
    if valid and not lib:
        return "idd_00_is_plus"
    return "idd_own_prefix" if default else "?"


def main():
    args = sys.argv[1:]
    sdist = None
    if args[:1] == ["--sdist"]:
        sdist, args = args[1], args[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    out = args[0] if args else os.path.join(here, "peer_phones.tsv")
    source, text = read_test_file(sdist)
    v = Strings()
    v.visit(ast.parse(text))
    rows, seen = [], set()
    for s, region, method, line in v.found:
        if not is_number_string(s):
            continue
        for default in ["", region or ""] + v.method_regions.get(method, []):
            if (s, default) in seen:
                continue
            seen.add((s, default))
            valid, key, typ = ref_verdict(s, default)
            lib = library_valid(s, default)
            rows.append((s, default, str(valid), key, typ, f"{method}:{line}", str(lib),
                         mapping(s, default, valid, lib)))
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# {source} {TEST_PATH} (Apache-2.0, The Libphonenumber Authors / David Drysdale); "
                f"verdicts: phonenumbers {pn.__version__} + contract (gen_phones.py); {len(rows)} rows\n")
        f.write("input\tdefault_country\tvalid\tkey\ttype\tcase\tlibrary_valid\tmapping\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    nvalid = sum(1 for r in rows if r[2] == "1")
    nmapped = sum(1 for r in rows if r[7])
    print(f"{out}: {len(rows)} rows ({len({r[0] for r in rows})} strings), {nvalid} valid, "
          f"{nmapped} decided by a documented mapping", file=sys.stderr)


if __name__ == "__main__":
    main()
