#!/usr/bin/python3
"""Checks the include graph against the layout (docs/architecture.md).

    scripts/check_includes.py [--root DIR] [--allow FILE]

Reads every #include in lib/, tools/, python/src/ and fuzz/ and resolves it
as the build does (the including file's folder, then lib/src/, then
lib/include/). The rules:

  * a file in lib/src/<stage>/ includes private headers of its own stage and
    of lib/src/common/ only; what another stage offers, it takes through a
    public header (lib/include/pickleguard/);
  * a public header includes public headers only (it is installed alone);
  * tools/ and python/src/ include public headers, and their own folder's;
  * every quoted include resolves to a file of the tree.

fuzz/ targets, like tests/ (not read), may include the private header of the
code they attack.

Known violations are listed in scripts/include_allowlist.txt, one a line:
`FILE HEADER REASON...` (both paths from the root, as resolved). The check
fails on a violation not in the list, and on a line of the list that is no
longer a violation: the list can only shrink. Exit 0 when clean, 1 otherwise.
"""

import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]', re.M)
SOURCES = (".cpp", ".hpp", ".h", ".cc", ".inc")
ROOTS = ("lib", "tools", "python/src", "fuzz")
PUBLIC = "lib/include/pickleguard/"
PRIVATE = "lib/src/"
# Generated into the build tree from a .in file beside it.
GENERATED = {"lib/include/pickleguard/version.hpp": "lib/include/pickleguard/version.hpp.in"}


def sources(root):
    for top in ROOTS:
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(SOURCES):
                    yield os.path.relpath(os.path.join(d, f), root)


def exists(root, rel):
    rel = os.path.normpath(rel)
    if os.path.isfile(os.path.join(root, rel)):
        return rel
    if rel in GENERATED and os.path.isfile(os.path.join(root, GENERATED[rel])):
        return rel
    return None


def resolve(root, including, spelled, quoted):
    """The include's path from the root, or None for a system header."""
    candidates = [os.path.join(os.path.dirname(including), spelled)] if quoted else []
    candidates += [os.path.join("lib/src", spelled), os.path.join("lib/include", spelled)]
    for c in candidates:
        found = exists(root, c)
        if found:
            return found
    if quoted or spelled.startswith("pickleguard/"):
        return "?" + spelled  # ours by its spelling, but not in the tree
    return None


def stage_of(path):
    if not path.startswith(PRIVATE):
        return None
    parts = path[len(PRIVATE):].split("/")
    return parts[0] if len(parts) > 1 else None


def violation(including, header):
    """Why `including` may not include `header`, or None."""
    if header.startswith("?"):
        return f"does not resolve to a file: {header[1:]}"
    if header.startswith(PUBLIC):
        return None
    stage = stage_of(including)
    if stage is not None:
        target = stage_of(header)
        if target is None or target in (stage, "common"):
            return None
        return f"lib/src/{stage}/ includes a private header of lib/src/{target}/"
    if including.startswith(PUBLIC):
        return "a public header includes a private one"
    if including.startswith(("tools/", "python/src/")):
        if os.path.dirname(header) == os.path.dirname(including):
            return None
        return "tools/ and python/src/ include public headers only"
    return None


def check(root, allow_path):
    found = {}
    for path in sources(root):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            header = resolve(root, path, m.group(2), m.group(1) == '"')
            if header is None:
                continue
            why = violation(path, header)
            if why:
                found[(path, header)] = why

    allowed = {}
    problems = []
    if allow_path and os.path.exists(allow_path):
        with open(allow_path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(None, 2)
                if len(parts) < 3:
                    problems.append(f"{allow_path}:{n}: needs FILE HEADER REASON")
                    continue
                key = (parts[0], parts[1])
                if key in allowed:
                    problems.append(f"{allow_path}:{n}: listed twice: {parts[0]} {parts[1]}")
                allowed[key] = n

    for key in sorted(found):
        if key not in allowed:
            problems.append(f"{key[0]}: includes {key[1]}: {found[key]}")
    for key, n in sorted(allowed.items(), key=lambda kv: kv[1]):
        if key not in found:
            problems.append(f"{allow_path}:{n}: {key[0]} no longer includes {key[1]} against the rules: "
                            "delete the line")
    return found, allowed, problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(here))
    ap.add_argument("--allow", help="the allow-list (default: scripts/include_allowlist.txt under the root)")
    args = ap.parse_args()
    allow = args.allow or os.path.join(args.root, "scripts", "include_allowlist.txt")
    found, allowed, problems = check(args.root, allow)
    for p in problems:
        print(p)
    print(f"check_includes: {len(found)} violations, {len(allowed)} allowed, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
