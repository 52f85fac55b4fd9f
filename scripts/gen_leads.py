#!/usr/bin/env python3
"""Writes a synthetic CRM export for benchmarks: N rows, semicolon-separated, with an email,
a mobile and an account-name column (three checks per row), about 5% invalid values, some
duplicates, quoted notes and formula-looking cells.

usage: scripts/gen_leads.py ROWS OUT.csv [--shape crm|api]
  crm: Id;Company;Contact;E-Mail;Phone;Account;Notes  (check with --check email=E-Mail ...)
  api: searchType,searchKey                            (one check per row)
"""
import random
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    out = sys.argv[2]
    shape = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--shape" else "crm"
    rnd = random.Random(42)
    with open(out, "w", encoding="utf-8", newline="") as f:
        if shape == "api":
            f.write("searchType,searchKey\n")
            for i in range(n):
                kind = ("email", "mobile", "name")[i % 3]
                f.write(f"{kind},{value(kind, i, rnd)}\n")
            return
        f.write("Id;Company;Contact;E-Mail;Phone;Account;Notes\r\n")
        for i in range(n):
            note = rnd.choice(["", "call back", '"met at expo; follow up"', "=HYPERLINK(\"x\")", "+1 vip"])
            f.write(
                f"{i};Company {i % 9973};Contact {i};{value('email', i, rnd)};"
                f"{value('mobile', i, rnd)};{value('name', i, rnd)};{note}\r\n"
            )


def value(kind, i, rnd):
    j = i if rnd.random() > 0.05 else rnd.randrange(max(i, 1))  # ~5% duplicates
    bad = rnd.random() < 0.05
    if kind == "email":
        return f"lead{j}example.com" if bad else f"Lead.{j}@Example{j % 100}.com"
    if kind == "mobile":
        return "8.6138E+12" if bad else f"+86 138 {j % 10000:04d} {j // 10000 % 10000:04d}"
    return f"op_{j}" if bad else f"acct-{j:07d}"


if __name__ == "__main__":
    main()
