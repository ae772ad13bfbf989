#!/usr/bin/env python3
"""Every option of every command, as the tool itself lists them
(`pickleguard --list-options`, walked from the same CLI11 tree as `--help`),
is where a user looks for it (issue 17):

  --check manual        in pickleguard(1) under its command's section, which
                        `man -l` renders without a warning (skipped without
                        man); offered by the bash completion, run in bash as
                        readline would run it; in the zsh completion's
                        function for its command, which zsh, on a pty with
                        compinit, runs for a sample of words (skipped
                        without zsh).
  --check commands-md   in docs/commands.md under its command's `## ` section
                        (or the shared options before the first section);
                        with --readme, in the README's synopsis of commands.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def options(pickleguard):
    """[(command words, option name, takes a value, choices)], and
    {(command words, option name): suggested values} for the options whose
    value may also be a file (--policy NAME|FILE: the shipped policies)."""
    out = subprocess.run([pickleguard, "--list-options"], check=True, capture_output=True, text=True).stdout
    rows = []
    suggested = {}
    for line in out.splitlines():
        command, name, kind, choices, suggestions = line.split("\t")
        rows.append((command, name, kind == "value", [c for c in choices.split(",") if c]))
        if suggestions:
            suggested[(command, name)] = suggestions.split(",")
    commands = {r[0] for r in rows}
    # The tree walk itself, so a test that sees nothing cannot pass.
    for expected in ("", "scan", "decode", "disasm", "explain", "policy", "policy infer", "policy generate", "serve",
                     "convert"):
        assert expected in commands, f"--list-options lacks the command {expected!r}: {sorted(commands)}"
    assert len(rows) > 40, rows
    return rows, suggested


def mentions(text, name):
    return re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text) is not None


def roff_plain(source):
    return re.sub(r"\\f[BIRP]", "", source).replace("\\-", "-").replace("\\e", "\\")


def check_man(rows, suggested, page, failures):
    source = open(page, encoding="utf-8").read()
    # Sections: ".SH OPTIONS" holds the tool's own options, ".SS pickleguard scan ..." each command's.
    sections = {}
    current = None
    for line in source.splitlines():
        if line.startswith(".SH "):
            current = "" if line == ".SH OPTIONS" else None
        elif line.startswith(".SS "):
            m = re.match(r"\.SS pickleguard((?: [a-z][a-z-]*)*)", line)
            current = m.group(1).strip() if m else None
        elif current is not None:
            sections[current] = sections.get(current, "") + roff_plain(line) + "\n"
    for command, name, _, choices in rows:
        if not mentions(sections.get(command, ""), name):
            failures.append(f"man page: {name} not under pickleguard {command}".rstrip())
        for c in choices + suggested.get((command, name), []):
            if c not in sections.get(command, ""):
                failures.append(f"man page: {command} {name} choice {c} missing")
    man = shutil.which("man")
    if not man:
        print("SKIP: no man(1) to render the page (apt-get install man-db groff-base)")
        return
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run([man, "--warnings", "-E", "UTF-8", "-l", page], capture_output=True, text=True, env=env)
    if r.returncode != 0 or r.stderr.strip():
        failures.append(f"man -l: exit {r.returncode}, warnings:\n{r.stderr}")
    rendered = re.sub(r".\x08", "", r.stdout)
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS"):
        if not re.search(rf"^{heading}$", rendered, re.M):
            failures.append(f"man -l: no {heading} section")
    for _, name, _, _ in rows:
        if not mentions(rendered, name):
            failures.append(f"man -l: rendered page lacks {name}")
    print(f"man -l: {len(rendered.splitlines())} lines, no warnings" if not r.stderr.strip() else "")


def bash_complete(script, queries):
    """Runs the completion function as readline would for each word list
    (the last word being completed); returns one list of offers per query."""
    lines = [f"source {shq(script)}"]
    for words in queries:
        lines.append("COMP_WORDS=(" + " ".join(shq(w) for w in words) + f"); COMP_CWORD={len(words) - 1}")
        lines.append("COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()")
        lines.append("_pickleguard pickleguard \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"")
        lines.append("printf '%s\\n' \"${COMPREPLY[*]}\"")
    lines.append("complete -p pickleguard")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(lines)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == len(queries) + 1 and "_pickleguard" in out[-1], r.stdout + r.stderr
    return [line.split() for line in out[:-1]]


def shq(word):
    return "'" + word.replace("'", "'\\''") + "'"


def check_bash(rows, suggested, script, failures):
    queries, expected = [], []
    for command, name, _, choices in rows:
        words = ["pickleguard"] + command.split()
        queries.append(words + [name])
        expected.append(([name], f"{name} after 'pickleguard {command}'"))
        if choices:
            queries.append(words + [name, ""])
            expected.append((choices, f"the values of {command} {name}"))
    commands = sorted({r[0] for r in rows if r[0]})
    for command in commands:
        *parent, last = command.split()
        queries.append(["pickleguard"] + parent + [last[:2]])
        expected.append(([last], f"the command {command}"))
    # The issue's own example, and an option value stepped over on the way.
    queries.append(["pickleguard", "scan", "--fo"])
    expected.append((["--format", "--follow-symlinks"], "pickleguard scan --fo"))
    queries.append(["pickleguard", "scan", "-o", "report.txt", "--policy", "sklearn", "--fail-on", "h"])
    expected.append((["high"], "a --fail-on value after other options' values"))
    # --policy offers the shipped policies, and files beside them (a policy
    # may be a TOML file): a directory of this source tree is one.
    for (command, name), values in suggested.items():
        words = ["pickleguard"] + command.split() + [name]
        queries.append(words + [""])
        expected.append((values, f"the shipped values of {command} {name}"))
    queries.append(["pickleguard", "scan", "--policy", "sk"])
    expected.append((["sklearn"], "a shipped policy name after --policy"))
    queries.append(["pickleguard", "explain", "--policy", os.path.join(HERE, "manual_")])
    expected.append(([os.path.join(HERE, "manual_test.py")], "a file name after --policy"))
    answers = bash_complete(script, queries)
    for (want, what), got, query in zip(expected, answers, queries):
        missing = [w for w in want if w not in got]
        if missing:
            failures.append(f"bash: {' '.join(query)!r} offers {got}, not {missing} ({what})")
    print(f"bash: {len(queries)} completions asked, {len(failures)} failures so far")


def check_zsh(rows, suggested, script, failures):
    text = open(script, encoding="utf-8").read()
    if not text.startswith("#compdef pickleguard\n"):
        failures.append("zsh: no #compdef line")
    functions = dict(re.findall(r"^(_pickleguard\w*)\(\) \{\n(.*?)^\}", text, re.M | re.S))
    for command, name, takes_value, choices in rows:
        fn = "_pickleguard" + "".join("_" + w for w in command.split())
        body = functions.get(fn, "")
        if not re.search(r"'\*?" + re.escape(name) + (r"[=+]" if takes_value else "") + r"\[", body):
            failures.append(f"zsh: {name} not in {fn}")
        for c in choices:
            if not re.search(r"\(([^()]* )?" + re.escape(c) + r"( [^()]*)?\)", body):
                failures.append(f"zsh: {command} {name} value {c} not offered")
    zsh = shutil.which("zsh")
    if not zsh:
        print("SKIP: no zsh to run the zsh completion in (apt-get install zsh)")
        return
    r = subprocess.run([zsh, "-n", script], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"zsh -n: {r.stderr}")
        return
    # The completion run as zsh runs it: an interactive zsh on a pty with
    # compinit and this file on fpath, a TAB typed after the words, and what
    # the completion offers caught at compadd. One option per command (each
    # asks for a new shell), the choices of each option that has some, and
    # each command's name.
    queries = []
    seen = set()
    for command, name, _, choices in rows:
        if command not in seen and name.startswith("--") and name != "--help":
            seen.add(command)
            queries.append(("pickleguard " + (command + " " if command else "") + name, [name]))
        if choices:
            queries.append(("pickleguard " + command + " " + name + " ", choices))
    queries.append(("pickleguard scan --policy ", suggested.get(("scan", "--policy"), ["(no suggestions)"])))
    queries.append(("pickleguard scan --policy " + os.path.join(HERE, "manual_"), ["manual_test.py"]))
    for command in sorted({r[0] for r in rows if r[0]}):
        *parent, last = command.split()
        queries.append((" ".join(["pickleguard", *parent, last[:2]]), [last]))
    queries.append(("pickleguard scan --fo", ["--format", "--follow-symlinks"]))
    queries.append(("pickleguard scan -o report.txt --fail-on h", ["high"]))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(script, os.path.join(tmp, "_pickleguard"))
        capture = os.path.join(tmp, "capture.zsh")
        with open(capture, "w") as f:
            f.write(ZSH_CAPTURE)
        for line, want in queries:
            r = subprocess.run([zsh, "-f", capture, tmp, line], capture_output=True, text=True, timeout=60)
            got = set(r.stdout.split())
            missing = [w for w in want if w not in got]
            if missing:
                failures.append(f"zsh: {line!r} offers {sorted(got)}, not {missing}{r.stderr}")
    print(f"zsh: {len(queries)} completions asked in zsh")


# Types the words and a TAB into an interactive zsh on a pty (compinit, the
# completion file on fpath) and prints each match compadd is given, as
# zsh-capture-completion does.
ZSH_CAPTURE = r"""zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; (( $#__hits == 0 )) && return
  local h; for h in $__hits; do print -r -- "<HIT>$h"; done
}'
zpty -w z "bindkey '^I' complete-word; zstyle ':completion:*' list-grouped false"
zpty -w z "print -r -- '<READY>'"
zpty -r z line '*<READY>*'
zpty -r z line '*<READY>*'
zpty -w -n z "$2"$'\t'
while zpty -r -t z line 2>/dev/null || { sleep 0.3; zpty -r -t z line 2>/dev/null }; do
  [[ $line == *'<HIT>'* ]] && print -r -- "${${line##*<HIT>}%%$'\r'*}"
done
zpty -d z
"""


def check_commands_md(rows, doc, failures):
    text = open(doc, encoding="utf-8").read()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    shared = parts[0]
    sections = {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}
    for command, name, _, _ in rows:
        if mentions(shared, name):
            continue  # the options every command takes, listed once before the sections
        section = sections.get(command)
        if section is None:
            failures.append(f"docs/commands.md: no '## {command}' section (for {name})")
        elif not mentions(section, name):
            failures.append(f"docs/commands.md: {name} not under '## {command}'")


def check_readme(rows, readme, failures):
    """The README's synopsis: every command, and every option somewhere in its Commands section."""
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"^## Commands\n(.*?)^## ", text, re.M | re.S)
    if not m:
        failures.append("README.md: no '## Commands' section")
        return
    section = m.group(1)
    for command in sorted({r[0] for r in rows if r[0]}):
        if not re.search(r"^pickleguard " + re.escape(command) + r"\b", section, re.M):
            failures.append(f"README.md: no synopsis line 'pickleguard {command}'")
    for command, name, _, _ in rows:
        if not mentions(section, name):
            failures.append(f"README.md: {name} ({command or 'pickleguard'}) not in the Commands section")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--check", choices=["manual", "commands-md"], required=True)
    ap.add_argument("--man")
    ap.add_argument("--bash")
    ap.add_argument("--zsh")
    ap.add_argument("--doc")
    ap.add_argument("--readme")
    a = ap.parse_args()
    rows, suggested = options(a.pickleguard)
    failures = []
    if a.check == "manual":
        # The files the build installs, and what the binary prints now: the same.
        for path, args in ((a.man, ["--generate-man"]), (a.bash, ["--generate-completion", "bash"]),
                           (a.zsh, ["--generate-completion", "zsh"])):
            now = subprocess.run([a.pickleguard] + args, check=True, capture_output=True, text=True).stdout
            if open(path, encoding="utf-8").read() != now:
                failures.append(f"{path} is not what {' '.join(args)} prints (rebuild)")
        check_man(rows, suggested, a.man, failures)
        check_bash(rows, suggested, a.bash, failures)
        check_zsh(rows, suggested, a.zsh, failures)
    else:
        check_commands_md(rows, a.doc, failures)
        if a.readme:
            check_readme(rows, a.readme, failures)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(rows)} option names over {len({r[0] for r in rows})} commands; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
