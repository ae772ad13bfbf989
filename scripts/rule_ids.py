#!/usr/bin/python3
"""Rule identifiers are named by their constants (pickleguard::rule::*, from
PICKLEGUARD_RULES in lib/include/pickleguard/rules.hpp), never spelt out.

  rule_ids.py --root DIR          check (the CTest rule_ids): exits 1 and
                                  lists every offence
  rule_ids.py --root DIR --fix    rewrites each string literal equal to a
                                  catalogue identifier in lib/ and tools/ as
                                  its constant, adding the include; run it
                                  again on code that still spells ids out
                                  (it is how the constants came in)

The check fails on
  - a string literal in lib/ or tools/ C++ (outside rules.hpp) equal to a
    catalogue identifier: it should be the constant;
  - a kebab-case literal there in a rule's place (the rule argument of add,
    issue or file_report::error, or assigned or compared to a rule) that is
    in no catalogue row: a rule the catalogue, SARIF and docs/rules.md lack;
  - a rule a unit test looks for (find(r, "...")), or a golden report names
    ("rule": "..."), that is in no row: such a test passes whatever the
    scanner does.
Comments are skipped; the scan is lexical, so a literal built by
concatenation is not seen (the unit test RulesCatalogue.* checks what
scans emit).
"""
import argparse
import pathlib
import re
import sys

CATALOGUE = "lib/include/pickleguard/rules.hpp"
INCLUDE = '#include "pickleguard/rules.hpp"'
SOURCES = ("lib", "tools")
SUFFIXES = {".cpp", ".hpp", ".h", ".inc"}

ROW = re.compile(r'^\s*X\((\w+), "([a-z0-9-]+)",', re.M)
# One lexical token of interest, in source order: comments, then literals.
TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)
KEBAB = r'"([a-z0-9]+(?:-[a-z0-9]+)+|[a-z0-9]+)"'
# Where a literal stands for a rule in library and tool code.
RULE_PLACE = re.compile(r'(?:\b(?:add|issue)\(\s*|\berror\([^,()]+,\s*|\brule\)?\s*(?:[!=]=|=)\s*)' + KEBAB)
# Where a unit test or golden file names a rule.
TEST_PLACE = re.compile(r'(?:\bfind\(\w+,\s*|"rule":\s*|\.rule,\s*|\.rule\s*[!=]=\s*)' + KEBAB)


def catalogue(root):
    rows = ROW.findall((root / CATALOGUE).read_text())
    if not rows:
        sys.exit(f"{CATALOGUE}: no PICKLEGUARD_RULES rows found")
    return dict((rid, constant) for constant, rid in rows)


def sources(root, dirs, suffixes):
    for d in dirs:
        for p in sorted((root / d).rglob("*")):
            if p.is_file() and p.suffix in suffixes and p.relative_to(root).as_posix() != CATALOGUE:
                yield p


def code_only(text):
    """The text with comments blanked (same length, same lines)."""
    return TOKEN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)) if m.group(0).startswith("/") else m.group(0), text)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check(root, ids):
    offences = []
    for p in sources(root, SOURCES, SUFFIXES):
        text = code_only(p.read_text())
        rel = p.relative_to(root)
        for m in TOKEN.finditer(text):
            lit = m.group(0)
            if lit.startswith('"') and lit[1:-1] in ids:
                offences.append(f"{rel}:{line_of(text, m.start())}: {lit} is spelt out: use rule::{ids[lit[1:-1]]}")
        for m in RULE_PLACE.finditer(text):
            if m.group(1) not in ids:
                offences.append(f"{rel}:{line_of(text, m.start(1))}: rule \"{m.group(1)}\" is not in {CATALOGUE}")
    for p in sources(root, ("tests/unit",), {".cpp", ".hpp", ".json"}):
        text = code_only(p.read_text()) if p.suffix != ".json" else p.read_text()
        for m in TEST_PLACE.finditer(text):
            if m.group(1) not in ids:
                offences.append(f"{p.relative_to(root)}:{line_of(text, m.start(1))}: the test names rule "
                                f"\"{m.group(1)}\", which is not in {CATALOGUE}")
    for o in offences:
        print(o)
    print(f"{len(ids)} rules; {len(offences)} offence(s)")
    return 1 if offences else 0


def add_include(text):
    if INCLUDE in text:
        return text
    includes = list(re.finditer(r'^#include "pickleguard/[^"]+"\n', text, re.M)) or \
        list(re.finditer(r'^#include [<"][^>"]+[>"]\n', text, re.M))
    at = includes[-1].end() if includes else 0
    return text[:at] + INCLUDE + "\n" + text[at:]


def fix(root, ids):
    changed = 0
    for p in sources(root, SOURCES, SUFFIXES):
        text = p.read_text()
        if p.name == "rules.cpp" and "PICKLEGUARD_RULES" in text:
            continue

        def swap(m):
            lit = m.group(0)
            if lit.startswith('"') and lit[1:-1] in ids:
                return "rule::" + ids[lit[1:-1]]
            return lit

        new = TOKEN.sub(swap, text)
        if new != text:
            p.write_text(add_include(new))
            changed += 1
            print(p.relative_to(root))
    print(f"{changed} file(s) rewritten")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent)
    ap.add_argument("--fix", action="store_true")
    args = ap.parse_args()
    ids = catalogue(args.root)
    return fix(args.root, ids) if args.fix else check(args.root, ids)


if __name__ == "__main__":
    sys.exit(main())
