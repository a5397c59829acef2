"""`seqgan job submit|status|logs|stop|list`: runs on a Ray cluster through Ray's Jobs SDK.

The entrypoint is `python -m learner.cli ...` in the uploaded working directory, so the cluster
needs no `seqgan` executable; it asks for no GPU and runs on the head node, where the driver (the
run's only writer) belongs.
"""
from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import yaml

from learner.run.store import is_uri
from learner.stopping import Interrupted

RUNTIME_ENV = "deploy/runtime_env.yaml"
ON_THE_HEAD = {"node:__internal_head__": 0.001}  # a resource only the head node has
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
TOKEN_FILE = Path.home() / ".ray" / "auth_token"


def use_token_when_there_is_one() -> None:
    """Ray 2.60 clusters ask for a token; Ray's client sends it only with RAY_AUTH_MODE=token. Set
    that (before Ray is imported) when a token is at hand and the user said nothing."""
    has_token = any(os.environ.get(k) for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")) or TOKEN_FILE.is_file()
    if has_token and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"


def job_client(address: str | None):
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ValueError("no Ray job server: pass --address http://HEAD:8265 or set RAY_API_SERVER_ADDRESS")
    use_token_when_there_is_one()
    from ray.job_submission import JobSubmissionClient
    try:
        return JobSubmissionClient(address)
    except Exception as error:  # connection refused, not a job server, auth: Ray raises several kinds
        raise ValueError(f"cannot reach the Ray job server at {address}: {_one_line(error)}") from None


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    if "authentication" in text.lower() or "Unauthorized" in text:
        text += (" (the cluster wants its token: copy it from the head (`ray get-auth-token`) into "
                 "~/.ray/auth_token or RAY_AUTH_TOKEN)")
    return text


def check_outputs_survive(command: list[str]) -> None:
    """A job's working directory is deleted with the job: refuse a relative run directory now,
    before anything is uploaded (the entrypoint refuses it too)."""
    if not command or command[0] not in ("train", "sweep"):
        return
    for flag in ("--out", "--resume"):
        value = flag_value(command, flag)
        if value is not None:
            if not (is_uri(value) or os.path.isabs(value)):
                raise ValueError(f"{flag} {value!r} is relative: a job's working directory is a temporary copy "
                                 "that Ray deletes; give an absolute path on shared storage or a URI (s3://...)")
            return
    raise ValueError(f"{command[0]} under a job needs --out (an absolute path on shared storage or a URI): a default "
                     "or relative one would land in the job's temporary working directory")


def flag_value(command: list[str], flag: str) -> str | None:
    """The value of `flag` in an argument list, as `--flag VALUE` or `--flag=VALUE` ("" when the
    flag ends the list; None when it is absent)."""
    for index, argument in enumerate(command):
        if argument == flag:
            return command[index + 1] if index + 1 < len(command) else ""
        if argument.startswith(flag + "="):
            return argument[len(flag) + 1:]
    return None


def asking(what: str, submission_id: str | None, call):
    """call() against the job server; Ray's errors for an unknown or taken submission id (and a
    server that fails the request) become one-line ValueErrors that say what to do."""
    try:
        return call()
    except (RuntimeError, ValueError) as error:  # Ray's SDK raises RuntimeError("... status code 404 ...")
        text = _one_line(error)
        if "does not exist" in text or "status code 404" in text:
            raise ValueError(f"no job {submission_id!r} on the cluster; "
                             "`seqgan job list` shows its jobs") from None
        if "already exists" in text:
            raise ValueError(f"a job {submission_id!r} already exists on the cluster: give "
                             "another --submission-id (`seqgan job list` shows the ids in use)") from None
        raise ValueError(f"{what}: {text}") from None


def runtime_env(path: str | None, working_dir: str) -> dict:
    env = {}
    chosen = path if path is not None else (RUNTIME_ENV if Path(RUNTIME_ENV).is_file() else None)
    if chosen:
        try:
            env = yaml.safe_load(Path(chosen).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"runtime env {chosen!r}: {' '.join(str(error).split())}") from None
        if not isinstance(env, dict):
            raise ValueError(f"runtime env {chosen!r}: expected a mapping (pip, env_vars, excludes, ...)")
    env.setdefault("working_dir", working_dir)
    return env


def cmd_submit(args) -> None:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ValueError("nothing to run: seqgan job submit [options] -- train --config ... --out URI")
    check_outputs_survive(command)
    client = job_client(args.address)
    env = runtime_env(args.runtime_env, args.working_dir)
    submission_id = asking("job submit", args.submission_id, lambda: client.submit_job(
        entrypoint=f"python -m learner.cli {shlex.join(command)}", runtime_env=env,
        submission_id=args.submission_id, entrypoint_num_cpus=0, entrypoint_num_gpus=0,
        entrypoint_resources=ON_THE_HEAD))
    print(f"submitted {submission_id}", flush=True)
    print(f"  status: seqgan job status {submission_id}\n  logs:   seqgan job logs {submission_id} --follow\n"
          f"  stop:   seqgan job stop {submission_id}", flush=True)
    if not args.no_wait:
        follow(client, submission_id)


def follow(client, submission_id: str) -> None:
    """Print the job's logs as they come, then exit with its outcome. Ctrl-C stops the following,
    not the job."""
    import asyncio

    async def tail() -> None:
        async for lines in client.tail_job_logs(submission_id):
            print(lines, end="", flush=True)
    asking("job logs", submission_id, lambda: client.get_job_info(submission_id))  # an unknown id: now
    try:
        asking("job logs", submission_id, lambda: asyncio.run(tail()))
    except KeyboardInterrupt as interrupt:
        raise Interrupted.advising(interrupt, f"job {submission_id} keeps running on the cluster; follow it with: "
                                   f"seqgan job logs {submission_id} --follow; stop it with: seqgan job stop "
                                   f"{submission_id}") from None
    status = wait_terminal(client, submission_id)
    print(f"job {submission_id}: {status}")
    if status != "SUCCEEDED":
        raise SystemExit(1)


def wait_terminal(client, submission_id: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(asking("job status", submission_id, lambda: client.get_job_status(submission_id)).value)
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def cmd_status(args) -> None:
    client = job_client(args.address)
    info = asking("job status", args.submission_id, lambda: client.get_job_info(args.submission_id))
    print(f"{args.submission_id}: {info.status.value}" + (f" ({info.message})" if info.message else ""))


def cmd_logs(args) -> None:
    client = job_client(args.address)
    if args.follow:
        follow(client, args.submission_id)
    else:
        print(asking("job logs", args.submission_id, lambda: client.get_job_logs(args.submission_id)), end="")


def cmd_stop(args) -> None:
    client = job_client(args.address)
    asking("job stop", args.submission_id, lambda: client.get_job_info(args.submission_id))
    asking("job stop", args.submission_id, lambda: client.stop_job(args.submission_id))
    print(f"stop requested for {args.submission_id}: the run finishes its step, checkpoints and exits; "
          f"continue it with: seqgan job submit -- train --resume RUN_DIR")


def cmd_list(args) -> None:
    for job in job_client(args.address).list_jobs():
        print(f"{job.submission_id}  {job.status.value:9}  {job.entrypoint}")


def register(sub) -> None:
    job = sub.add_parser("job", help="run on a Ray cluster: submit, status, logs, stop, list")
    jsub = job.add_subparsers(dest="job_command", required=True)

    def command(name: str, func, help_text: str, with_id: bool = True):
        p = jsub.add_parser(name, help=help_text)
        p.add_argument("--address", help="job server, http://HEAD:8265 (else RAY_API_SERVER_ADDRESS or RAY_ADDRESS)")
        if with_id:
            p.add_argument("submission_id")
        p.set_defaults(func=func)
        return p

    submit = command("submit", cmd_submit, "submit `seqgan COMMAND ...` as a Ray job", with_id=False)
    submit.add_argument("--runtime-env", help=f"runtime env YAML (default: {RUNTIME_ENV})")
    submit.add_argument("--working-dir", default=".", help="uploaded to the cluster (default: .)")
    submit.add_argument("--submission-id", help="default: one Ray makes up")
    submit.add_argument("--no-wait", action="store_true", help="print the submission id and return")
    submit.add_argument("command", nargs="...", help="-- train --config ... --out URI")
    command("status", cmd_status, "a job's status")
    logs = command("logs", cmd_logs, "a job's logs")
    logs.add_argument("--follow", action="store_true", help="until the job ends")
    command("stop", cmd_stop, "stop a job: it checkpoints its step and exits")
    command("list", cmd_list, "the cluster's jobs", with_id=False)
