"""Imports flow one way: seqgan <- rewards <- actors <- learner; seqgan/ and rewards/ never import ray."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["seqgan", "rewards", "actors", "learner"]
RAY_FREE = {"seqgan", "rewards"}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.add(node.args[0].value.split(".")[0])  # importlib.import_module("x"), __import__("x")
    return names


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or \
        (isinstance(func, ast.Attribute) and func.attr == "import_module")


@pytest.mark.unit
@pytest.mark.parametrize("package", ORDER)
def test_imports_flow_one_way(package):
    allowed = set(ORDER[:ORDER.index(package) + 1])
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    for path in files:
        imported = imported_top_levels(path)
        upward = (imported & set(ORDER)) - allowed
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (flow is {' <- '.join(ORDER)})"
        if package in RAY_FREE:
            assert "ray" not in imported, f"{path.relative_to(ROOT)} imports ray"


@pytest.mark.unit
def test_ray_remote_only_at_the_edges():
    """Roles are plain classes; ray appears in one module per side (and the jobs client, which only
    talks to a cluster's job server)."""
    users = sorted(str(p.relative_to(ROOT)) for pkg in ORDER for p in (ROOT / pkg).rglob("*.py")
                   if "ray" in imported_top_levels(p))
    assert set(users) <= {"actors/ray_pool.py", "learner/remote.py", "learner/bench/scaling.py",
                          "learner/commands/jobs.py", "learner/sweep/tuning.py"}, users


@pytest.mark.unit
def test_dynamic_imports_are_seen(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("import importlib\ndef f():\n    importlib.import_module('ray.util')\n    __import__('learner.driver')\n")
    assert {"ray", "learner", "importlib"} <= imported_top_levels(path)


@pytest.mark.unit
def test_importing_seqgan_and_rewards_loads_no_ray():
    """Whatever the source says, at run time: every module of seqgan/ and rewards/, imported."""
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for pkg in RAY_FREE
               for p in sorted((ROOT / pkg).rglob("*.py"))]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\nprint('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "importing seqgan/ or rewards/ loads ray"
