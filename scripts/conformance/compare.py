#!/usr/bin/env python3
"""Compare checkuser's email/mobile normalization against the reference corpus.

usage: python3 scripts/conformance/compare.py BIN [options]
  BIN                 the checkuser binary (e.g. target/release/checkuser)
  --only mobile|email run only one half
  --phones TSV        phone corpus [default: phones.tsv beside this script]
  --emails TSV        email corpus [default: emails.tsv beside this script]
  --out DIR           where to write disagreements-{mobile,email}.tsv and summary-*.json
                      [default: out/ beside this script]
  --examples N        example disagreements printed per class [default: 25]
  --jobs N            checkuser runs in parallel [default: 1]
  --wait SECONDS      if BIN is missing (being rebuilt), keep retrying this long [default: 0]
  --keep              keep the temporary CSV inputs/outputs (their folder is printed)

It builds one CSV per default_country value for the phones (columns id,mobile) and one for the
emails (id,email), runs `BIN validate IN.csv --check mobile=mobile [--default-country X] -o OUT.csv`
(`--check email=email` for the emails), reads <type>_result / <type>_checked_key / <type>_error_msg
and compares with the reference verdicts. Only the Python standard library is needed here (the
reference libraries are only needed to regenerate the corpus).

Classes: agree (both valid with the same key, or both not valid); we_valid_ref_invalid;
we_invalid_ref_valid (our result invalid or skipped); key_differs (both valid, other key);
run_error (no output row: checkuser failed for that file).
Exit status: 0 when everything agrees, 1 when there are disagreements, 2 on a usage problem or
missing binary.
"""
import argparse
import collections
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["we_valid_ref_invalid", "we_invalid_ref_valid", "key_differs", "run_error"]


def read_tsv(path):
    """-> (header comment, list of dicts)."""
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = [l[:-1] if l.endswith("\n") else l for l in f]
    comment = lines[0][2:] if lines and lines[0].startswith("# ") else ""
    body = lines[1:] if comment else lines
    header = body[0].split("\t")
    rows = []
    for l in body[1:]:
        if not l:
            continue
        parts = l.split("\t")
        rows.append(dict(zip(header, parts)))
    if "input-escaped" in comment:  # \\ \t \n \r in the input column (peer_emails.tsv)
        for r in rows:
            r["input"] = unescape(r["input"])
    return comment, rows


def unescape(s):
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), s)


def unescape_variants(cell):
    """The cell, and the cell without one leading ' (formula escaping)."""
    if cell.startswith("'"):
        return (cell, cell[1:])
    return (cell,)


def wait_for_binary(path, wait):
    deadline = time.time() + wait
    while True:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            try:
                p = subprocess.run([path, "validate", "--help"], capture_output=True, text=True, timeout=60)
                if p.returncode == 0:
                    return p.stdout
                err = p.stderr.strip()
            except OSError as e:  # e.g. "text file busy" while the linker writes it
                err = str(e)
        else:
            err = "not found or not executable"
        if time.time() >= deadline:
            print(f"checkuser binary {path}: {err}", file=sys.stderr)
            print("build it first (cargo build --release) or pass the path to an existing binary", file=sys.stderr)
            sys.exit(2)
        time.sleep(min(10, max(1, deadline - time.time())))


def run_one(binary, workdir, name, kind, values, default, flags):
    """Write values to NAME.csv, run validate, return ({id: (result, key, error_msg)}, error or None)."""
    inp = os.path.join(workdir, f"{name}.csv")
    out = os.path.join(workdir, f"{name}.out.csv")
    with open(inp, "w", encoding="utf-8", newline="") as f:
        # CRLF records: the csv module then quotes a field holding a lone CR too
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", kind])
        for i, v in values:
            w.writerow([i, v])
    cmd = [binary, "validate", inp, "--check", f"{kind}={kind}", "-o", out]
    if default:
        cmd += ["--default-country", default]
    cmd += flags
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = os.path.join(workdir, "cache")  # never touch the real state store
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env, timeout=600)
    except subprocess.TimeoutExpired:
        return {}, "timeout after 600 s", time.time() - t0
    dt = time.time() - t0
    if not os.path.exists(out):
        return {}, f"exit {p.returncode}, no output: {p.stderr.strip()[-500:]}", dt
    res = {}
    with open(out, encoding="utf-8-sig", newline="") as f:
        r = csv.reader(f)
        header = [h.strip().lower() for h in next(r)]
        try:
            ci = header.index("id")
            cr = header.index(f"{kind}_result")
            ck = header.index(f"{kind}_checked_key")
        except ValueError:
            return {}, f"output header lacks id/{kind}_result/{kind}_checked_key: {header}", dt
        ce = header.index(f"{kind}_error_msg") if f"{kind}_error_msg" in header else None
        for row in r:
            if len(row) <= max(ci, cr, ck):
                continue
            res[row[ci]] = (row[cr], row[ck], row[ce] if ce is not None and ce < len(row) else "")
    err = None
    if p.returncode not in (0,):
        err = f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
    return res, err, dt


def classify(ref_valid, ref_keys, ours):
    if ours is None:
        return "run_error"
    result, key, _ = ours
    we_valid = result == "valid"
    if we_valid and not ref_valid:
        return "we_valid_ref_invalid"
    if ref_valid and not we_valid:
        return "we_invalid_ref_valid"
    if we_valid and ref_valid:
        if any(k in ref_keys for k in unescape_variants(key)):
            return "agree"
        return "key_differs"
    return "agree"


def norm_msg(m):
    m = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", m)
    m = re.sub(r"\d+", "#", m)
    return m[:90]


def ref_category(kind, row):
    if kind == "mobile":
        return row["type"]
    r = row["reason"]
    r = re.sub(r"\(\d+\)", "(#)", r)
    return r[:90] if r else "valid"


def report(kind, rows, results, run_errors, elapsed, n_runs, args, dis_writer):
    stats = collections.Counter()
    by_class = collections.defaultdict(list)
    for row in rows:
        ours = results.get(row["_id"])
        if kind == "mobile":
            ref_valid = row["valid"] == "1"
            ref_keys = {row["key"]}
        else:
            ref_valid = row["valid"] == "1"
            ref_keys = {row["key_unicode"], row["key_ascii"]}
        cls = classify(ref_valid, ref_keys, ours)
        stats[cls] += 1
        if ours is not None:
            stats["ours_" + ours[0]] += 1
        if cls == "agree":
            stats["agree_valid" if ref_valid else "agree_invalid"] += 1
            continue
        by_class[cls].append((row, ours))
        dis_writer.writerow([
            kind, cls, row["input"], row.get("default_country", ""), row["valid"],
            row["key"] if kind == "mobile" else row["key_unicode"],
            "" if kind == "mobile" else row["key_ascii"],
            ref_category(kind, row), row["case"],
            ours[0] if ours else "", ours[1] if ours else "", ours[2] if ours else "",
        ])
    total = len(rows)
    agree = stats["agree"]
    print(f"\n=== {kind}: {total} rows, {n_runs} checkuser run(s), {elapsed:.1f} s ===")
    print(f"agreement: {100.0 * agree / total:.2f} %  ({agree}/{total}; both valid same key "
          f"{stats['agree_valid']}, both not valid {stats['agree_invalid']})")
    print(f"reference valid: {sum(1 for r in rows if r['valid'] == '1')}; "
          f"ours: valid {stats['ours_valid']}, invalid {stats['ours_invalid']}, skipped {stats['ours_skipped']}"
          + "".join(f", {k[5:]} {v}" for k, v in stats.items()
                    if k.startswith("ours_") and k[5:] not in ("valid", "invalid", "skipped")))
    for cls in CLASSES:
        print(f"  {cls:22s} {stats[cls]}")
    if run_errors:
        print(f"checkuser run problems ({len(run_errors)}):")
        for name, e in run_errors[:10]:
            print(f"  {name}: {e}")
    for cls in CLASSES:
        items = by_class.get(cls)
        if not items:
            continue
        print(f"\n--- {kind} {cls}: {len(items)} ---")
        cats = collections.Counter()
        for row, ours in items:
            if cls == "we_invalid_ref_valid":
                cats[(ref_category(kind, row), "ours: " + norm_msg(ours[2]) if ours else "")] += 1
            else:
                cats[(ref_category(kind, row), row["case"])] += 1
        print("top categories (reference type/reason, generator case or our message):")
        for (a, b), n in cats.most_common(12):
            print(f"  {n:6d}  {a}  |  {b}")
        # examples: round robin over categories so that rare ones show up too
        groups = collections.OrderedDict()
        for (a, b), _ in cats.most_common():
            groups[(a, b)] = []
        for row, ours in items:
            k = (ref_category(kind, row),
                 ("ours: " + norm_msg(ours[2]) if ours else "") if cls == "we_invalid_ref_valid" else row["case"])
            groups[k].append((row, ours))
        picked = []
        while len(picked) < args.examples and any(groups.values()):
            for k in list(groups):
                if groups[k] and len(picked) < args.examples:
                    picked.append(groups[k].pop(0))
        print("examples:")
        for row, ours in picked:
            d = f" [default {row['default_country']}]" if kind == "mobile" and row["default_country"] else ""
            if kind == "mobile":
                ref = f"ref {'valid' if row['valid'] == '1' else 'invalid'} {row['key'] or '-'} {row['type']}"
            else:
                ref = (f"ref {'valid' if row['valid'] == '1' else 'invalid'} "
                       f"{row['key_unicode'] or '-'}"
                       + (f" / {row['key_ascii']}" if row["key_ascii"] != row["key_unicode"] else "")
                       + (f" ({row['reason']})" if row["reason"] else ""))
            o = f"ours {ours[0]} {ours[1] or '-'}" + (f" ({ours[2]})" if ours and ours[2] else "") if ours else "ours: no row"
            print(f"  {row['input']!r}{d}  [{row['case']}]\n      {ref}\n      {o}")
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--only", choices=["mobile", "email"])
    ap.add_argument("--phones", default=os.path.join(HERE, "phones.tsv"))
    ap.add_argument("--emails", default=os.path.join(HERE, "emails.tsv"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--examples", type=int, default=25)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--wait", type=float, default=0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    help_text = wait_for_binary(binary, args.wait)
    for need in ("--check", "--default-country", "--output"):
        if need not in help_text:
            print(f"{binary} validate --help does not mention {need}; is this checkuser?", file=sys.stderr)
            sys.exit(2)
    flags = []
    if "--quiet" in help_text:
        flags.append("--quiet")
    if "--progress" in help_text:
        flags += ["--progress", "never"]
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        version = "?"
    print(f"checkuser: {binary} ({version})")

    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="checkuser-conformance-")
    t_all = time.time()
    summary = {"binary": binary, "version": version}
    written = []

    def open_dis(kind):
        path = os.path.join(args.out, f"disagreements-{kind}.tsv")
        written.append(path)
        f = open(path, "w", encoding="utf-8", newline="")
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["kind", "class", "input", "default_country", "ref_valid", "ref_key", "ref_key_ascii",
                    "ref_type_or_reason", "case", "our_result", "our_key", "our_error_msg"])
        return f, w

    if args.only in (None, "mobile"):
        comment, rows = read_tsv(args.phones)
        print(f"phones: {args.phones} ({comment})")
        summary["phones_corpus"] = comment
        groups = collections.OrderedDict()
        for i, row in enumerate(rows):
            row["_id"] = str(i)
            groups.setdefault(row["default_country"], []).append(row)
        t0 = time.time()
        results, errors = {}, []

        def job(item):
            dflt, grp = item
            name = "mobile-" + (dflt or "none")
            return name, run_one(binary, workdir, name, "mobile",
                                 [(r["_id"], r["input"]) for r in grp], dflt, flags)

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            for name, (res, err, _dt) in ex.map(job, groups.items()):
                results.update(res)
                if err:
                    errors.append((name, err))
        f, dw = open_dis("mobile")
        with f:
            st = report("mobile", rows, results, errors, time.time() - t0, len(groups), args, dw)
        summary["mobile"] = dict(st, total=len(rows), seconds=round(time.time() - t0, 1))
    if args.only in (None, "email"):
        comment, rows = read_tsv(args.emails)
        print(f"\nemails: {args.emails} ({comment})")
        summary["emails_corpus"] = comment
        for i, row in enumerate(rows):
            row["_id"] = str(i)
        t0 = time.time()
        res, err, _dt = run_one(binary, workdir, "email", "email",
                                [(r["_id"], r["input"]) for r in rows], "", flags)
        f, dw = open_dis("email")
        with f:
            st = report("email", rows, res, [("email", err)] if err else [], time.time() - t0, 1, args, dw)
        summary["email"] = dict(st, total=len(rows), seconds=round(time.time() - t0, 1))
    summary["elapsed_seconds"] = round(time.time() - t_all, 1)
    spath = os.path.join(args.out, "summary-" + (args.only or "all") + ".json")
    with open(spath, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    written.append(spath)
    print("\nfull disagreement lists and summary: " + ", ".join(written))
    print(f"total time: {time.time() - t_all:.1f} s")
    if args.keep:
        print(f"inputs/outputs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    bad = sum(summary.get(k, {}).get(c, 0) for k in ("mobile", "email") for c in CLASSES)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
