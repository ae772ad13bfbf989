#!/usr/bin/python3
"""The GitHub Action (action.yml) run locally: its steps, as GitHub runs a
composite action's steps, on a git repository with a safe and a poisoned
pickle. The upload step is GitHub's own action and is only checked for its
inputs; everything else runs for real.

    action_test.py --pickleguard build/tools/pickleguard
"""
import json
import pathlib
import pickle
import re
import subprocess
import sys

import yaml

import cli_common

ROOT = pathlib.Path(__file__).resolve().parents[2]
PICKLEGUARD = None

SAFE = pickle.dumps({"epoch": 3, "lr": [0.1, 0.01]}, protocol=4)
# GLOBAL os system, then REDUCE: a protocol-0 shell call.
POISONED = b"cos\nsystem\n(S'echo pwned'\ntR."


def action():
    return yaml.safe_load((ROOT / "action.yml").read_text())


class ActionDefinition(cli_common.TempDirTest):
    def test_every_input_used_is_declared(self):
        a = action()
        text = (ROOT / "action.yml").read_text()
        used = set(re.findall(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)", text))
        used |= set(re.findall(r"inputs\.([A-Za-z0-9_-]+)\s*==", text))
        self.assertTrue(used)
        self.assertLessEqual(used, set(a["inputs"]), used - set(a["inputs"]))

    def test_steps_run_the_script_or_upload(self):
        a = action()
        self.assertEqual(a["runs"]["using"], "composite")
        commands = set()
        for step in a["runs"]["steps"]:
            if "uses" in step:
                self.assertTrue(step["uses"].startswith("github/codeql-action/upload-sarif@"), step)
                self.assertIn("sarif_file", step["with"])
                continue
            self.assertEqual(step["shell"], "bash")
            m = re.fullmatch(r'"\$GITHUB_ACTION_PATH/scripts/github_action\.sh" (\w+)', step["run"])
            self.assertIsNotNone(m, step["run"])
            commands.add(m.group(1))
        self.assertEqual(commands, {"install", "scan", "verdict"})


class ActionRun(cli_common.TempDirTest):
    """The steps of action.yml, run in order with GitHub's environment."""

    def setUp(self):
        super().setUp()
        self.repo = pathlib.Path(self.dir) / "repo"
        self.repo.mkdir()
        bin_dir = pathlib.Path(self.dir) / "bin"
        bin_dir.mkdir()
        (bin_dir / "pickleguard").symlink_to(PICKLEGUARD)
        self.path = f"{bin_dir}:/usr/bin:/bin"
        subprocess.run(["git", "init", "-q", str(self.repo)], check=True)
        (self.repo / "models").mkdir()
        (self.repo / "models" / "weights.pkl").write_bytes(SAFE)
        (self.repo / "README.md").write_text("not a pickle\n")

    def run_action(self, **inputs):
        """Runs every script step of action.yml in order; returns
        ({step id or name: (exit status, output)}, GITHUB_OUTPUT values)."""
        a = action()
        values = {k: str(v.get("default", "")) for k, v in a["inputs"].items()}
        values.update({k.replace("_", "-"): v for k, v in inputs.items()})
        outputs_file = pathlib.Path(self.dir) / "github_output"
        outputs_file.write_text("")
        outputs = {}
        results = {}
        for step in a["runs"]["steps"]:
            if "uses" in step:
                continue
            cond = step.get("if", "")
            if "inputs.fail == 'true'" in cond and values["fail"] != "true":
                continue
            env = {"PATH": self.path, "HOME": self.dir, "GITHUB_ACTION_PATH": str(ROOT),
                   "GITHUB_OUTPUT": str(outputs_file), "GITHUB_WORKSPACE": str(self.repo)}
            for name, value in (step.get("env") or {}).items():
                value = re.sub(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}", lambda m: values[m.group(1)], value)
                value = re.sub(r"\$\{\{\s*steps\.scan\.outputs\.([a-z-]+)\s*\}\}",
                               lambda m: outputs.get(m.group(1), ""), value)
                env[name] = value
            r = subprocess.run(["bash", "-c", step["run"]], cwd=self.repo, env=env, capture_output=True, text=True)
            results[step.get("id", step["name"])] = (r.returncode, r.stdout + r.stderr)
            for line in outputs_file.read_text().splitlines():
                key, _, value = line.partition("=")
                outputs[key] = value
        return results, outputs

    def test_safe_repository_passes_and_writes_sarif(self):
        results, outputs = self.run_action()
        self.assertEqual(results["scan"][0], 0, results)
        self.assertIn("using", results["Install pickleguard (unless it is on PATH)"][1])
        self.assertEqual(outputs["status"], "0")
        sarif = json.loads((self.repo / outputs["sarif-file"]).read_text())
        self.assertEqual(sarif["version"], "2.1.0")
        self.assertEqual(sarif["runs"][0]["results"], [])
        self.assertEqual(results["Fail on unsafe or unreadable files"][0], 0)

    def test_poisoned_pickle_fails_the_job_after_the_report_is_written(self):
        (self.repo / "models" / "checkpoint").write_bytes(POISONED)
        results, outputs = self.run_action()
        self.assertEqual(results["scan"][0], 0, "the scan step never fails, so the upload runs")
        self.assertEqual(outputs["status"], "1")
        sarif = json.loads((self.repo / outputs["sarif-file"]).read_text())
        uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
                for res in sarif["runs"][0]["results"] for loc in res["locations"]}
        self.assertTrue(any(u.endswith("models/checkpoint") for u in uris), uris)
        status, log = results["Fail on unsafe or unreadable files"]
        self.assertEqual(status, 1)
        self.assertIn("os.system", log)

    def test_fail_false_reports_without_failing(self):
        (self.repo / "models" / "checkpoint").write_bytes(POISONED)
        results, outputs = self.run_action(fail="false")
        self.assertEqual(outputs["status"], "1")
        self.assertNotIn("Fail on unsafe or unreadable files", results)

    def test_args_and_policies_are_words_not_shell(self):
        (self.repo / "vendor").mkdir()
        (self.repo / "vendor" / "checkpoint").write_bytes(POISONED)
        results, outputs = self.run_action(args="--exclude vendor/", policy="python\nnumpy")
        self.assertEqual(outputs["status"], "0", results)
        marker = pathlib.Path(self.dir) / "ran"
        results, outputs = self.run_action(paths=f"models $(touch {marker}) `touch {marker}`")
        self.assertFalse(marker.exists(), "an input was run as a command")
        self.assertEqual(outputs["status"], "2", results)  # the words are paths that do not exist


if __name__ == "__main__":
    cli_common.main(sys.modules[__name__])
