#!/usr/bin/python3
"""Writes docs/rules.md from the rule catalogue in lib/src/judge/rules.cpp,
so the documentation and the SARIF rule help never drift apart.
The unit test RulesDoc.EveryRuleIsDocumented fails when this needs a rerun."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
src = (ROOT / "lib/src/judge/rules.cpp").read_text()
rows = re.findall(r'\{"([a-z0-9-]+)", "([^"]+)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', src)
out = ["# Finding rules", "", "Each finding names one of these rules. Identifiers are stable.", ""]
for rule_id, title, help_parts in rows:
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', help_parts)).replace('\\"', '"')
    out.append(f"## {rule_id}\n\n**{title}.** {text}\n")
(ROOT / "docs/rules.md").write_text("\n".join(out))
print(f"{len(rows)} rules")
