"""The house rules of the layout: no import cycles between the project's modules (deferred imports
inside functions included), no private name imported across modules, learner/ by job, one home for
each training method, and the declared interfaces of the learner and the pool."""
import ast
import inspect
from pathlib import Path

import pytest

from actors.inline_pool import InlinePool
from actors.pool import Pool
from learner.learner import Learner
from learner.methods import REGISTRY
from learner.role import LearnerRole, role_methods
from seqgan.config import METHODS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("seqgan", "rewards", "actors", "learner")
MAX_LOOSE_LEARNER_MODULES = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import anywhere in the file, functions included;
    `from a.b import c` where a.b.c is a module imports that module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name in modules]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in modules:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.append((child, []) if child in modules else (node.module, [alias.name]))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {name: {target for target, _ in imports_of(path, modules)} - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a list of modules (the first repeated at the end), or None."""
    state, stack = {}, []  # state: 1 on the current path, 2 done

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.unit
def test_no_import_cycle_between_the_projects_modules():
    assert find_cycle(import_graph(project_modules())) is None, " -> ".join(find_cycle(import_graph(project_modules())))


@pytest.mark.unit
def test_the_cycle_finder_sees_a_deferred_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": set()}
    assert find_cycle(graph) is None
    graph["c"] = {"a"}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    probe = ROOT / "learner" / "__init__.py"  # a deferred import inside a function is an edge too
    modules = {"learner": probe, "learner.driver": ROOT / "learner" / "driver.py"}
    code = tmp_path / "probe.py"
    code.write_text("def f():\n    from learner.driver import Trainer\n")
    assert imports_of(code, modules) == [("learner.driver", ["Trainer"])]


@pytest.mark.unit
def test_no_private_name_is_imported_across_modules():
    modules = project_modules()
    private = [f"{module_name(path)} takes {name} from {target}" for path in modules.values()
               for target, names in imports_of(path, modules) for name in names
               if name.startswith("_") and not name.startswith("__")]
    assert not private, private


@pytest.mark.unit
def test_learner_is_by_job():
    loose = sorted(p.name for p in (ROOT / "learner").glob("*.py"))
    assert len(loose) <= MAX_LOOSE_LEARNER_MODULES, loose
    for job in ("run", "watch", "bench", "commands", "methods"):
        assert (ROOT / "learner" / job / "__init__.py").is_file(), job


@pytest.mark.unit
def test_every_method_is_registered_and_nothing_else_branches_on_its_name():
    assert set(REGISTRY) == set(METHODS)
    assert all(cls.__module__.startswith("learner.methods.") for cls in REGISTRY.values())
    branching = []
    for name, path in project_modules().items():
        if name.startswith("learner.methods") or name == "seqgan.validation":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(
                    isinstance(side, ast.Attribute) and side.attr == "method" for side in [node.left, *node.comparators]):
                branching.append(f"{name} line {node.lineno}")
    assert not branching, f"compare train.method outside learner/methods/: {branching}"


def parameters(function) -> list[str]:
    """Parameter names, without those Ray's tracing adds to actor classes' methods."""
    return [name for name in inspect.signature(function).parameters if not name.startswith("_ray")]


@pytest.mark.unit
def test_the_learner_and_its_ray_handle_offer_exactly_the_declared_methods():
    from learner.remote import RemoteLearner

    declared = role_methods()
    assert {"publish", "mle_epoch", "state", "restart"} <= set(declared)
    for name in declared:
        want = parameters(getattr(LearnerRole, name))
        assert parameters(getattr(Learner, name)) == want, name
        assert parameters(getattr(RemoteLearner, name)) == want, name
    public = {n for n, v in vars(RemoteLearner).items() if callable(v) and not n.startswith("_")}
    assert public == set(declared), "the Ray learner handle forwards exactly LearnerRole's methods"
    assert not hasattr(RemoteLearner, "__getattr__")


@pytest.mark.unit
def test_both_pools_satisfy_the_pool_interface():
    from actors.ray_pool import RayPool

    declared = [n for n, v in vars(Pool).items() if callable(v) and not n.startswith("_")]
    assert set(declared) == {"publish", "run", "stats", "close"}
    for pool in (InlinePool, RayPool):
        for name in declared:
            assert parameters(getattr(pool, name)) == parameters(getattr(Pool, name)), (pool.__name__, name)
