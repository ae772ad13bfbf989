#!/usr/bin/python3
"""Writes every fenced code block of one language in the given Markdown pages
to OUT_DIR/<page>_<n>.<ext> and prints the files' paths, one per line.

    code_blocks.py --lang cpp --ext cpp --out DIR docs/services.md ...

tests/CMakeLists.txt builds each `cpp` block of docs/ as a program against
the library and runs it: a snippet in the docs that stops compiling fails the
build, one that stops working fails its test.
"""
import argparse
import pathlib
import re


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lang", required=True)
    ap.add_argument("--ext", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("pages", nargs="+")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fence = re.compile(r"^```" + re.escape(args.lang) + r"[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
    for page in args.pages:
        text = pathlib.Path(page).read_text(encoding="utf-8")
        stem = pathlib.Path(page).stem.replace("-", "_")
        for n, block in enumerate(fence.findall(text), start=1):
            target = out / f"{stem}_{n}.{args.ext}"
            # Rewrite only what changed, so an unrelated doc edit rebuilds nothing.
            if not target.exists() or target.read_text(encoding="utf-8") != block:
                target.write_text(block, encoding="utf-8")
            print(target)


if __name__ == "__main__":
    main()
