"""The layering holds: what the Pulumi program loads, and that CI's contracts catch a breach."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = PYPROJECT["tool"]["importlinter"]["root_packages"]
# What the stacks run must never load: the web portal, the local labs, the CLI, the live cloud.
ABOVE_THE_PROGRAM = {"portal", "lab", "cli", "cloud", "fastapi", "uvicorn", "openstack"}

PROGRAM = """
import json, sys
from pathlib import Path
from desired.stack_settings import load_settings
from desired.state import build_desired
from stacks.mockrun import run_stack
import policy.rules, stacks.program
repo = Path(sys.argv[1])
primary = load_settings(repo, "primary")
dr = load_settings(repo, "dr")
state = build_desired(primary)
first = run_stack(state)
run_stack(build_desired(dr, county=state.county), {dr.primary_stack: first.outputs})
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_pulumi_program_loads_nothing_of_the_portal_or_the_lab() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(REPO)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=600,
    )
    loaded = set(json.loads(ran.stdout.splitlines()[-1]))
    assert {"stacks", "modules", "desired", "pulumi"} <= loaded  # the program really ran
    assert not loaded & ABOVE_THE_PROGRAM, sorted(loaded & ABOVE_THE_PROGRAM)


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_the_layer_contracts_fail_on_an_upward_import(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    clean = _lint_imports(tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # The core reaching up into the portal, as govcloud/registry/ipam.py once did.
    (tree / "govcloud" / "upward.py").write_text("from portal import lifecycle  # noqa\n")
    broken = _lint_imports(tree)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "govcloud is not allowed to import portal" in broken.stdout
    assert "govcloud.upward -> portal.lifecycle" in broken.stdout


def test_test_modules_have_unique_basenames() -> None:
    """The test folders are not packages, so pytest imports each module by its basename: two
    of one name (a unit and an integration test) stop the whole run at collection."""
    seen: dict[str, Path] = {}
    for module in sorted((REPO / "tests").rglob("test_*.py")):
        other = seen.setdefault(module.name, module)
        assert other == module, f"{module} and {other} share a basename: rename one"
