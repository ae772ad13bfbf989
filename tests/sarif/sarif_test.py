#!/usr/bin/python3
"""`pickleguard scan --format sarif` against the official SARIF 2.1.0 schema
(sarif-schema-2.1.0.json beside this file) and against what GitHub code
scanning reads to rank and track alerts: a rule's
properties["security-severity"] and defaultConfiguration.level,
partialFingerprints that survive a re-scan, invocations with
executionSuccessful and toolExecutionNotifications for files that could not
be read, URIs relative to %SRCROOT% (no "./", no absolute path inside the
scan root), a member of an archive as a logical location, and helpUris that
are anchors of docs/rules.md at the project's repository URL.

    sarif_test.py --pickleguard build/tools/pickleguard --repository-url URL
"""

import argparse
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import unittest
import zipfile

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
import pickles  # noqa: E402

PICKLEGUARD = None
REPOSITORY_URL = None

with open(os.path.join(HERE, "sarif-schema-2.1.0.json")) as f:
    SCHEMA = json.load(f)


def rules_doc_anchors():
    """The anchors GitHub makes of docs/rules.md's headings (all '## rule-id')."""
    with open(os.path.join(ROOT, "docs", "rules.md")) as f:
        return {m.group(1) for m in re.finditer(r"^## ([a-z0-9-]+)$", f.read(), re.M)}


def zip_with(member, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(member, data)
    return buf.getvalue()


class SarifTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.root = os.path.realpath(self._tmp.name)
        self._out = tempfile.TemporaryDirectory()
        self.outside = os.path.realpath(self._out.name)
        files = {
            "models/ok.pkl": pickle.dumps({"w": [1.5, 2.5]}, protocol=4),
            "models/bad.pkl": pickles.os_system(),
            "models/two bad#.pkl": pickles.os_system() + pickles.builtins_eval(),
            "archive.zip": zip_with("inner/data.pkl", pickles.os_system()),
        }
        for rel, data in files.items():
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        with open(os.path.join(self.outside, "elsewhere.pkl"), "wb") as f:
            f.write(pickles.os_system())

    def tearDown(self):
        self._tmp.cleanup()
        self._out.cleanup()

    def sarif(self, *paths):
        r = subprocess.run([PICKLEGUARD, "scan", "--format", "sarif", *paths], cwd=self.root, capture_output=True,
                           text=True, timeout=120)
        self.assertIn(r.returncode, (1, 2), r.stderr)
        doc = json.loads(r.stdout)
        jsonschema.Draft4Validator(SCHEMA).validate(doc)
        return doc, r.returncode

    def test_valid_and_github_fields(self):
        missing = os.path.join(self.root, "missing.pkl")
        doc, code = self.sarif("./models", "archive.zip", os.path.join(self.root, "models", "bad.pkl"),
                               os.path.join(self.outside, "elsewhere.pkl"), missing)
        self.assertEqual(code, 2)
        (run,) = doc["runs"]
        driver = run["tool"]["driver"]
        self.assertEqual(driver["informationUri"], REPOSITORY_URL)
        anchors = rules_doc_anchors()
        rules = driver["rules"]
        self.assertTrue(rules)
        for rule in rules:
            with self.subTest(rule=rule["id"]):
                sev = rule["properties"]["security-severity"]
                self.assertIsInstance(sev, str)
                self.assertTrue(0.0 <= float(sev) <= 10.0)
                self.assertIn(rule["defaultConfiguration"]["level"], ("none", "note", "warning", "error"))
                self.assertEqual(rule["helpUri"], f"{REPOSITORY_URL}/blob/main/docs/rules.md#{rule['id']}")
                self.assertIn(rule["id"], anchors, "the helpUri's anchor is a heading of docs/rules.md")
        by_id = {r["id"]: r for r in rules}
        # os.system is critical: the rule is ranked so, and an error.
        self.assertEqual(by_id["global-not-allowed"]["properties"]["security-severity"], "9.5")
        self.assertEqual(by_id["global-not-allowed"]["defaultConfiguration"]["level"], "error")

        self.assertEqual(run["originalUriBaseIds"]["%SRCROOT%"]["uri"], "file://" + self.root + "/")
        uris = set()
        for res in run["results"]:
            self.assertEqual(rules[res["ruleIndex"]]["id"], res["ruleId"])
            self.assertNotEqual(res["ruleId"], "unreadable-file", "a file that was not read is no result")
            (fp,) = res["partialFingerprints"].values()
            self.assertRegex(fp, r"^[0-9a-f]{16}:[0-9]+$")
            art = res["locations"][0]["physicalLocation"]["artifactLocation"]
            uri = art["uri"]
            uris.add(uri)
            self.assertFalse(uri.startswith("./"), uri)
            self.assertNotIn(self.root, uri, "no absolute path inside the scan root")
            if uri.startswith("file://"):
                self.assertNotIn("uriBaseId", art)
            else:
                self.assertEqual(art["uriBaseId"], "%SRCROOT%")
        self.assertEqual(uris, {"models/bad.pkl", "models/two%20bad%23.pkl", "archive.zip",
                                "file://" + self.outside + "/elsewhere.pkl"})
        fingerprints = [next(iter(r["partialFingerprints"].values())) for r in run["results"]]
        # models/bad.pkl is named twice (walked and by absolute path): one
        # key, told apart by the occurrence count.
        self.assertEqual(len(fingerprints), len(set(fingerprints)))

        # The member of the archive: a logical location, not byte 0 of the zip.
        (member,) = [r for r in run["results"] if r["ruleId"] == "global-not-allowed"
                     and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "archive.zip"]
        loc = member["locations"][0]
        self.assertEqual(loc["logicalLocations"][0]["fullyQualifiedName"], "inner/data.pkl")
        self.assertNotIn("byteOffset", loc["physicalLocation"]["region"])
        self.assertIn("memberOffset", member["properties"])
        # A bare pickle's finding keeps its byte offset.
        (bare,) = [r for r in run["results"] if r["ruleId"] == "global-not-allowed"
                   and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/bad.pkl"][:1]
        self.assertIn("byteOffset", bare["locations"][0]["physicalLocation"]["region"])

        (inv,) = run["invocations"]
        self.assertFalse(inv["executionSuccessful"])
        (note,) = inv["toolExecutionNotifications"]
        self.assertEqual(note["level"], "error")
        self.assertEqual(note["associatedRule"]["id"], "unreadable-file")
        self.assertEqual(note["locations"][0]["physicalLocation"]["artifactLocation"],
                         {"uri": "missing.pkl", "uriBaseId": "%SRCROOT%"})

    def test_fingerprints_survive_a_rescan_and_a_move_of_bytes(self):
        first, _ = self.sarif("models")
        # The same call behind a None pushed and popped: every offset moves
        # (the GLOBAL from 2 to 4), the alert stays the same.
        with open(os.path.join(self.root, "models", "bad.pkl"), "wb") as f:
            f.write(b"\x80\x02N0" + pickles.global_op("os", "system") + pickles.unicode4("echo pwned") + b"\x85R.")
        second, _ = self.sarif("models")
        offsets = [r["locations"][0]["physicalLocation"]["region"].get("byteOffset")
                   for doc in (first, second) for r in doc["runs"][0]["results"]
                   if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/bad.pkl"]
        self.assertEqual(sorted(set(offsets)), [2, 4], "the offsets did move")

        def prints(doc):
            return sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                           r["partialFingerprints"]["pickleguard/v1"]) for r in doc["runs"][0]["results"])

        self.assertEqual(prints(first), prints(second))

    def test_execution_successful_when_every_file_was_read(self):
        doc, code = self.sarif("models")
        self.assertEqual(code, 1)
        (inv,) = doc["runs"][0]["invocations"]
        self.assertTrue(inv["executionSuccessful"])
        self.assertNotIn("toolExecutionNotifications", inv)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--repository-url", required=True)
    args, rest = ap.parse_known_args()
    PICKLEGUARD = os.path.abspath(args.pickleguard)
    REPOSITORY_URL = args.repository_url
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
