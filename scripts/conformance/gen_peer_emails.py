#!/usr/bin/env python3
"""Extract the addresses of email-validator's own test suite into peer_emails.tsv, with the
contract's reference verdict (gen_emails.ref_verdict) and the suite's own verdict.

usage: python3 scripts/conformance/gen_peer_emails.py [--sdist email_validator-X.tar.gz] [OUT.tsv]
       (default OUT: peer_emails.tsv beside this file)

Source: tests/test_syntax.py as distributed in the email-validator sdist on PyPI (the version
installed here; without --sdist it is fetched with
`pip download --no-binary :all: --no-deps email-validator==VERSION`). email-validator is by
Joshua Tauberer and released into the public domain (The Unlicense, https://unlicense.org/); its
test_syntax.py includes the pyIsEmail test addresses (Michael Herold, MIT), copied here as test
data.

What is taken: every input the test functions give to validate_email: the parametrized values
(substituted into each validate_email call of the test, so `s + "@test"` and `"test@" + s` both
count) and the literal arguments of direct calls (and of `for x in (...)` loops). Inputs longer
than 1,000 characters (the quadratic-time probes) and a lone surrogate (U+D800, which no UTF-8
file can hold) are left out.

Columns: as emails.tsv (input, valid, key_unicode, key_ascii, reason, case), plus
  suite_valid  1 / 0: what email-validator says with the options the test itself passes
               (check_deliverability=False and the test's keyword arguments, e.g.
               allow_quoted_local=True or test_environment=True)
  mapping      when valid != suite_valid, the documented mapping that decides it (README.md,
               "Documented mappings")
The input column is escaped (\\\\ \\t \\n \\r), which the header comment says ("input-escaped");
compare.py undoes it. case = test function:line.
"""
import ast
import os
import subprocess
import sys
import tarfile
import tempfile

import email_validator as ev
from email_validator import EmailNotValidError, validate_email

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_emails import ref_verdict, strip_wrappers  # noqa: E402

TEST_PATH = "tests/test_syntax.py"
MAX_LEN = 1000
# Which options of the suite's calls the contract fixes otherwise, by keyword.
OPTION_MAPPINGS = {
    "allow_quoted_local": "no_quoted_local",
    "allow_display_name": "no_display_name",
    "allow_domain_literal": "no_domain_literal",
    "allow_empty_local": "no_empty_local",
    "test_environment": "special_use_domains",
}

OPTION_KEYS = {v: k for k, v in OPTION_MAPPINGS.items()}


def read_test_file(sdist):
    if sdist is None:
        tmp = tempfile.mkdtemp(prefix="peer-emails-")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        f"email-validator=={ev.__version__}", "-d", tmp], check=True)
        sdist = os.path.join(tmp, next(f for f in os.listdir(tmp) if f.endswith(".tar.gz")))
    with tarfile.open(sdist) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/" + TEST_PATH))
        return os.path.basename(sdist), t.extractfile(member).read().decode("utf-8")


def value(node, env):
    """A constant expression's value, with names looked up in env; None if not constant."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [value(e, env) for e in node.elts]
        return None if any(i is None for i in items) else tuple(items)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        a, b = value(node.left, env), value(node.right, env)
        if a is None or b is None:
            return None
        try:
            return a + b if isinstance(node.op, ast.Add) else a * b
        except TypeError:
            return None
    return None


def validate_calls(fn):
    """(call, loop bindings) for each validate_email call in a test function."""
    loops = {}
    for n in ast.walk(fn):
        if isinstance(n, ast.For) and isinstance(n.target, ast.Name):
            v = value(n.iter, {})
            if isinstance(v, tuple):
                loops[n.target.id] = v
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "validate_email" and n.args]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset)), loops


def parametrize(fn):
    """(names, list of value tuples, line of each) of a @pytest.mark.parametrize, or None."""
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize":
            names = value(d.args[0], {})
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            rows = []
            for e in d.args[1].elts:
                # element by element: an expected value may be an object (MakeValidatedEmail(...))
                parts = e.elts if isinstance(e, (ast.Tuple, ast.List)) else [e]
                rows.append((tuple(value(p, {}) for p in parts), e.lineno))
            return names, rows
    return None


def suite_inputs(tree):
    """(input, the suite's keyword arguments, case) for every address the suite validates."""
    out = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test_"):
            continue
        calls, loops = validate_calls(fn)
        params = parametrize(fn)
        envs = []
        if params:
            names, rows = params
            envs = [(dict(zip(names, vals)), line) for vals, line in rows]
        else:
            envs = [({}, fn.lineno)]
        for env, line in envs:
            for call in calls:
                kwargs = {k.arg: value(k.value, env) for k in call.keywords}
                arg = call.args[0]
                if isinstance(arg, ast.Name) and arg.id in loops and arg.id not in env:
                    inputs = loops[arg.id]
                else:
                    inputs = (value(arg, env),)
                for inp in inputs:
                    if isinstance(inp, str) and len(inp) <= MAX_LEN and encodable(inp):
                        out.append((inp, kwargs, f"{fn.name}:{line if params else call.lineno}"))
    return out


def encodable(s):
    """False for a lone surrogate (U+D800), which no UTF-8 file can hold."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def suite_valid(inp, kwargs):
    kw = dict(kwargs)
    kw["check_deliverability"] = False
    kw.pop("dns_resolver", None)
    try:
        validate_email(inp, **kw)
        return 1
    except EmailNotValidError:
        return 0


def mapping(inp, valid, suite, reason, kwargs):
    if valid == suite:
        return ""
    if valid:
        if "\uff20" in inp:
            return "fullwidth_at"
        if strip_wrappers(inp) != inp.strip():
            return "wrappers"
        if inp != inp.strip():
            return "trim"
        return "?"
    if reason.startswith("contract: non-ASCII"):
        return "local_letters_marks_digits"
    if reason.startswith("contract: longer than 64"):
        return "max_64_chars"
    if reason.startswith("contract: special-use"):
        return "special_use_domains"
    if reason.startswith("contract: TLD"):
        return "tld_letters"
    if "\uff20" in inp:
        return "fullwidth_at"
    for words, name in (("Quoting", "no_quoted_local"), ("display name", "no_display_name"),
                        ("bracketed IP", "no_domain_literal")):
        if words in reason and kwargs.get(OPTION_KEYS[name]):
            return name
    if "something before" in reason and kwargs.get("allow_empty_local"):
        return "no_empty_local"
    names = [OPTION_MAPPINGS[k] for k, v in kwargs.items() if k in OPTION_MAPPINGS and v]
    if "allow_smtputf8" in kwargs and not kwargs["allow_smtputf8"]:
        names = names or ["?"]
    return "+".join(names) or "?"


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def main():
    args = sys.argv[1:]
    sdist = None
    if args[:1] == ["--sdist"]:
        sdist, args = args[1], args[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    out = args[0] if args else os.path.join(here, "peer_emails.tsv")
    source, text = read_test_file(sdist)
    rows, seen = [], set()
    for inp, kwargs, case in suite_inputs(ast.parse(text)):
        if inp in seen:
            continue
        seen.add(inp)
        valid, ku, ka, reason = ref_verdict(inp)
        suite = suite_valid(inp, kwargs)
        rows.append((escape(inp), str(valid), ku, ka, escape(reason), case, str(suite),
                     mapping(inp, valid, suite, reason, kwargs)))
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# {source} {TEST_PATH} (The Unlicense; pyIsEmail cases MIT); verdicts: email-validator "
                f"{ev.__version__} + contract (gen_emails.py); input-escaped; {len(rows)} rows\n")
        f.write("input\tvalid\tkey_unicode\tkey_ascii\treason\tcase\tsuite_valid\tmapping\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    nvalid = sum(1 for r in rows if r[1] == "1")
    nmapped = sum(1 for r in rows if r[7])
    print(f"{out}: {len(rows)} rows, {nvalid} valid, {nmapped} decided by a documented mapping",
          file=sys.stderr)


if __name__ == "__main__":
    main()
