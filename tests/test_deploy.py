"""The deployment artifacts (deploy/, docs/deploy.md): they parse, agree with setup.cfg and the config
schema, name presets that exist, describe clusters that fit the cluster preset, and keep the job's
working-dir upload small."""
from __future__ import annotations

import configparser
import fnmatch
import importlib.util
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from seqgan.config_files import load_config
from seqgan.config import to_dict

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
RUNTIME_ENV = DEPLOY / "runtime_env.yaml"
RAY_UP = DEPLOY / "cluster" / "ray-up.yaml"
RAYCLUSTER = DEPLOY / "kuberay" / "raycluster.yaml"
RAYJOB = DEPLOY / "kuberay" / "rayjob.yaml"
DOCS = ROOT / "docs" / "deploy.md"
CLUSTER_PRESET = "deploy/configs/cluster.yaml"
UPLOAD_LIMIT = 10 * 2**20  # bytes; Ray refuses far more, but the code and docs are well under 1 MiB
PRESET_MENTION = re.compile(r"deploy/configs/[\w.-]+\.ya?ml")
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def load(path: Path):
    return yaml.safe_load(path.read_text())


def runtime_env() -> dict:
    return load(RUNTIME_ENV)


def install_requires() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return [line.strip() for line in parser["options"]["install_requires"].splitlines() if line.strip()]


def project_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def exclusion_matcher(patterns: list[str]):
    """path relative to the working dir -> excluded? gitwildmatch semantics, as Ray's upload: pathspec
    if installed, else the copy Ray vendors, else a rough fnmatch stand-in."""
    try:
        import pathspec
    except ImportError:
        try:
            from ray._private.thirdparty import pathspec
        except ImportError:
            pathspec = None
    if pathspec is not None:
        return pathspec.PathSpec.from_lines("gitwildmatch", patterns).match_file

    def rough(relative: str) -> bool:
        parts = relative.split("/")
        for pattern in patterns:
            directory_only, bare = pattern.endswith("/"), pattern.strip("/").replace("**/", "")
            names = parts[:-1] if directory_only else parts
            if "/" in bare:  # anchored at the working dir
                if any(fnmatch.fnmatch("/".join(parts[:i]), bare) for i in range(1, len(parts) + 1)):
                    return True
            elif any(fnmatch.fnmatch(name, bare) for name in names):
                return True
        return False
    return rough


def shell_commands(text: str) -> list[list[str]]:
    """Commands of the docs' ```bash blocks: continuation lines joined, comments dropped, split
    at && and ;."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = []
            for token in shlex.split(line, comments=True):
                if token in ("&&", ";", "||"):
                    commands.append(command)
                    command = []
                else:
                    command.append(token)
            commands.append(command)
    commands = [c[next((i for i, t in enumerate(c) if not ENV_ASSIGNMENT.match(t)), len(c)):] for c in commands]
    return [c for c in commands if c]  # without leading VAR=value assignments


def train_invocations(tokens: list[str]) -> list[tuple[str | None, list[str]]]:
    """(--config value, --set values) of a command line that runs `train`."""
    if "train" not in tokens:
        return []
    tokens = tokens[tokens.index("train") + 1:]
    config, overrides, i = None, [], 0
    while i < len(tokens):
        if tokens[i] == "--config":
            config, i = tokens[i + 1], i + 2
        elif tokens[i] == "--set":
            i += 1
            while i < len(tokens) and not tokens[i].startswith("-"):
                overrides.append(tokens[i])
                i += 1
        else:
            i += 1
    return [(config, overrides)]


def cluster_specs() -> list[tuple[str, dict]]:
    """(file, RayCluster spec) of both KubeRay manifests."""
    cluster = load(RAYCLUSTER)
    job = load(RAYJOB)
    return [(RAYCLUSTER.name, cluster["spec"]), (RAYJOB.name, job["spec"]["rayClusterSpec"])]


def containers(group: dict) -> list[dict]:
    return group["template"]["spec"]["containers"]


def quantity(value) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def cluster_needs() -> tuple[float, float]:
    """(GPUs, CPU slots) the cluster preset's actors ask for."""
    c = load_config(CLUSTER_PRESET)
    return (c.learner.num_gpus + c.rollout.num_workers * c.rollout.num_gpus,
            c.learner.num_cpus + c.rollout.num_workers * c.rollout.num_cpus)


# -- every file parses ---------------------------------------------------------------------------

def test_every_yaml_under_deploy_parses():
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert {RUNTIME_ENV, RAY_UP, RAYCLUSTER, RAYJOB} <= set(files)
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, f"{path} holds no YAML document"
        assert all(isinstance(d, dict) for d in documents), f"{path}: a document is not a mapping"


# -- the runtime env -----------------------------------------------------------------------------

def test_runtime_env_has_pip_env_vars_and_excludes():
    env = runtime_env()
    assert {"pip", "env_vars", "excludes"} <= set(env)
    assert all(isinstance(value, str) for value in env["env_vars"].values()), "Ray wants env_vars as strings"


def test_runtime_env_pip_is_install_requires_without_ray():
    wanted = [r for r in install_requires() if project_name(r) != "ray"]
    assert len(wanted) == len(install_requires()) - 1, "setup.cfg should require ray (once)"
    pip = [p.strip() for p in runtime_env()["pip"]]
    assert sorted(pip) == sorted(wanted), (
        f"deploy/runtime_env.yaml pip {pip} != setup.cfg install_requires without ray {wanted}")


def test_runtime_env_gives_a_stopped_job_time_to_checkpoint():
    env_vars = runtime_env()["env_vars"]
    assert int(env_vars["RAY_JOB_STOP_WAIT_TIME_S"]) >= 60  # Ray's default, 3 s, is not enough
    assert env_vars["PYTHONUNBUFFERED"] == "1"


def test_excludes_drop_runs_git_and_caches_but_not_the_code():
    excluded = exclusion_matcher(runtime_env()["excludes"])
    for path in ["runs/paper-1/checkpoints/step-10/generator.sgw", "runs/smoke/metrics.jsonl",
                 ".git/objects/ab/cdef", ".git/HEAD", "seqgan/__pycache__/config.cpython-311.pyc",
                 "__pycache__/x.pyc", ".pytest_cache/v/cache/nodeids", ".hypothesis/examples/x",
                 "seqgan.egg-info/PKG-INFO", "checkpoints/step-3/progress.json"]:
        assert excluded(path), f"{path} would be uploaded with the working dir"
    for path in ["seqgan/config.py", "learner/cli.py", "deploy/configs/cluster.yaml", "setup.cfg",
                 "README.md", "docs/deploy.md"]:
        assert not excluded(path), f"{path} would be left out of the working dir"


def test_working_dir_upload_is_small():
    excluded = exclusion_matcher(runtime_env()["excludes"])
    total, biggest = 0, []
    for folder, subfolders, files in os.walk(ROOT):
        relative_folder = Path(folder).relative_to(ROOT)
        subfolders[:] = [d for d in subfolders if not excluded(str(relative_folder / d) + "/")]
        for name in files:
            relative = str(relative_folder / name)
            if not excluded(relative):
                size = os.lstat(os.path.join(folder, name)).st_size
                total += size
                biggest.append((size, relative))
    assert total < UPLOAD_LIMIT, (f"the working-dir upload would be {total / 2**20:.1f} MiB; largest: "
                                  f"{sorted(biggest, reverse=True)[:5]}: add them to deploy/runtime_env.yaml excludes")


# -- presets named by entrypoints, launch files and docs ------------------------------------------

def test_presets_named_anywhere_exist_and_load():
    named = set()
    for path in (RAYJOB, RAY_UP, RAYCLUSTER, RUNTIME_ENV, DOCS):
        named |= set(PRESET_MENTION.findall(path.read_text()))
    assert CLUSTER_PRESET in named
    for preset in sorted(named):
        assert (ROOT / preset).is_file(), f"{preset} is named but does not exist"
        load_config(preset)


def test_docs_train_commands_load_with_their_overrides():
    invocations = [i for tokens in shell_commands(DOCS.read_text()) for i in train_invocations(tokens)]
    configs = {config for config, _ in invocations}
    assert CLUSTER_PRESET in configs and None in configs  # new runs and --resume
    for config, overrides in invocations:
        if config is not None:
            load_config(config, overrides)  # ConfigError names a misspelt key or a bad value


def test_docs_commands_submit_the_job_the_way_jobs_find_seqgan():
    text = DOCS.read_text()
    assert "python -m learner.cli train" in text
    assert '{"node:__internal_head__": 0.001}' in text
    raw_submits = [tokens for tokens in shell_commands(text) if tokens[:3] == ["ray", "job", "submit"]]
    assert raw_submits
    for tokens in raw_submits:
        entrypoint = tokens[tokens.index("--") + 1:]
        assert entrypoint[:3] == ["python", "-m", "learner.cli"], f"raw ray job submit of {entrypoint}"


# -- the cluster preset --------------------------------------------------------------------------

def test_cluster_preset_puts_the_learner_on_a_gpu_and_shares_gpus_among_rollout_actors():
    c = load_config(CLUSTER_PRESET)
    assert c.learner.num_gpus == 1
    assert 0 < c.rollout.num_gpus < 1 and c.rollout.num_workers >= 2


def test_cluster_preset_has_the_papers_hyperparameters():
    cluster, paper = to_dict(load_config(CLUSTER_PRESET)), to_dict(load_config("deploy/configs/paper.yaml"))
    for section in ("model", "generator", "discriminator", "data"):
        assert cluster[section] == paper[section], section
    for section, keys in (("train", set(paper["train"]) - {"checkpoint_every"}),
                          ("rollout", {"num_rollouts", "update_rate"})):
        for key in keys:
            assert cluster[section][key] == paper[section][key], f"{section}.{key}"


# -- KubeRay -------------------------------------------------------------------------------------

def test_kuberay_manifests_are_ray_io_v1_of_the_right_kinds():
    assert (load(RAYCLUSTER)["apiVersion"], load(RAYCLUSTER)["kind"]) == ("ray.io/v1", "RayCluster")
    assert (load(RAYJOB)["apiVersion"], load(RAYJOB)["kind"]) == ("ray.io/v1", "RayJob")


@pytest.mark.parametrize("which", [0, 1], ids=["raycluster", "rayjob"])
def test_kuberay_cluster_has_a_cpu_head_and_gpu_workers_that_fit_the_preset(which):
    name, spec = cluster_specs()[which]
    head = spec["headGroupSpec"]
    assert str(head["rayStartParams"].get("num-gpus", "0")) == "0", name
    for container in containers(head):
        for kind in ("limits", "requests"):
            assert "nvidia.com/gpu" not in container.get("resources", {}).get(kind, {}), f"{name}: a GPU on the head"
    gpu_groups = [g for g in spec["workerGroupSpecs"]
                  if any(c["resources"]["limits"].get("nvidia.com/gpu", 0) >= 1 for c in containers(g))]
    assert gpu_groups, f"{name}: no worker group with nvidia.com/gpu limits"
    gpus = cpus = 0.0
    for group in gpu_groups:
        assert group["groupName"] and 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], name
        limits = containers(group)[0]["resources"]["limits"]
        gpus += group["minReplicas"] * quantity(limits["nvidia.com/gpu"])
        cpus += group["minReplicas"] * quantity(limits["cpu"])
    need_gpus, need_cpus = cluster_needs()
    assert gpus >= need_gpus and cpus >= need_cpus, f"{name}: {gpus} GPUs / {cpus} CPUs < {need_gpus} / {need_cpus}"
    assert spec["authOptions"]["mode"] == "token", name


def test_rayjob_runs_the_cluster_preset_and_cleans_up():
    spec = load(RAYJOB)["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] >= 0
    entrypoint = shlex.split(spec["entrypoint"])
    assert entrypoint[:4] == ["python", "-m", "learner.cli", "train"]
    assert entrypoint[entrypoint.index("--config") + 1] == CLUSTER_PRESET
    assert "://" in entrypoint[entrypoint.index("--out") + 1], "outputs must outlive the pods: a URI"
    assert json.loads(spec["entrypointResources"]) == {"node:__internal_head__": 0.001}


def test_rayjob_runtime_env_is_runtime_env_yaml_plus_code():
    job_env, env = yaml.safe_load(load(RAYJOB)["spec"]["runtimeEnvYAML"]), runtime_env()
    assert job_env["pip"] == env["pip"] and job_env["env_vars"] == env["env_vars"]
    assert re.match(r"(https?|s3|gs)://.+\.zip$", job_env["working_dir"]), job_env["working_dir"]


# -- ray up --------------------------------------------------------------------------------------

def ray_up_commands(config: dict, *keys: str) -> str:
    return "\n".join(command for key in keys for command in config.get(key) or [])


def test_ray_up_has_a_cpu_head_and_a_gpu_worker_type_that_fit_the_preset():
    config = load(RAY_UP)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    workers = [t for name, t in types.items() if name != config["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert workers, "no worker node type with a GPU resource"
    for worker in workers:
        assert 0 <= worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]
    need_gpus, need_cpus = cluster_needs()
    assert sum(w["min_workers"] * w["resources"]["GPU"] for w in workers) >= need_gpus
    assert sum(w["min_workers"] * w["resources"].get("CPU", 0) for w in workers) >= need_cpus


def test_ray_up_installs_the_project_and_starts_ray_with_token_auth():
    config = load(RAY_UP)
    project = [remote for remote, local in config["file_mounts"].items() if local in (".", "./")]
    assert project, "file_mounts should sync the project directory"
    install = re.compile(r"pip install -e " + re.escape(project[0]) + r"\b")
    assert install.search(ray_up_commands(config, "setup_commands", "head_setup_commands"))
    assert install.search(ray_up_commands(config, "setup_commands", "worker_setup_commands"))
    head, worker = (ray_up_commands(config, key) for key in ("head_start_ray_commands", "worker_start_ray_commands"))
    assert re.search(r"RAY_AUTH_MODE=token ray start --head", head)
    assert re.search(r"RAY_AUTH_MODE=token ray start --address", worker)


def test_ray_up_matches_the_cluster_launcher_schema():
    jsonschema = pytest.importorskip("jsonschema")
    spec = importlib.util.find_spec("ray")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ray is not installed")
    schema_file = Path(spec.submodule_search_locations[0]) / "autoscaler" / "ray-schema.json"
    if not schema_file.is_file():
        pytest.skip("this Ray has no autoscaler schema")
    jsonschema.validate(load(RAY_UP), json.loads(schema_file.read_text()))


# -- many runs: the Table 1 sweep ------------------------------------------------------------------

def test_rayjob_sweep_runs_table_1_as_one_sweep_whose_trials_fit_the_workers():
    from learner.sweep.grid import Spec, expand, parse_grid
    from learner.sweep.tuning import bundles

    spec = load(DEPLOY / "kuberay" / "rayjob-sweep.yaml")["spec"]
    tokens = shlex.split(spec["entrypoint"])
    assert tokens[:4] == ["python", "-m", "learner.cli", "sweep"] and spec["shutdownAfterJobFinishes"] is True
    grids = [tokens[i + 1] for i, t in enumerate(tokens) if t == "--grid"]
    after_set = tokens[tokens.index("--set") + 1:]
    sets = after_set[:next(i for i, t in enumerate(after_set) if t.startswith("--"))]
    assert "://" in tokens[tokens.index("--out") + 1], "outputs must outlive the pods: a URI"
    config = tokens[tokens.index("--config") + 1]
    points = expand(Spec((ROOT / config).read_text(), tuple(sets), parse_grid(grids)))
    assert sorted((p.config.train.method, p.config.train.seed) for p in points) == \
        sorted((m, s) for m in ("mle", "ss", "pg_bleu", "seqgan") for s in (0, 1, 2))
    worker_cpus = min(quantity(containers(g)[0]["resources"]["limits"]["cpu"])
                      for g in spec["rayClusterSpec"]["workerGroupSpecs"])
    assert all(b.get("CPU", 0) <= worker_cpus for p in points for b in bundles(p.config))
    assert json.loads(spec["entrypointResources"]) == {"node:__internal_head__": 0.001}
    assert "--frontier" in tokens  # the report holds the quality-diversity columns; the plot needs matplotlib
    assert any(line.strip().startswith("- matplotlib") for line in spec["runtimeEnvYAML"].splitlines())
