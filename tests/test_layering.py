"""Imports flow one way: seqgan <- rewards <- actors <- learner; seqgan/ and rewards/ never import ray."""
import ast
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
    return names


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
    """Roles are plain classes; ray appears in one module per side."""
    users = sorted(str(p.relative_to(ROOT)) for pkg in ORDER for p in (ROOT / pkg).rglob("*.py")
                   if "ray" in imported_top_levels(p))
    assert set(users) <= {"actors/ray_pool.py", "learner/remote.py", "learner/cli.py", "learner/bench.py"}, users
