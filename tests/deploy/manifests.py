"""The Kubernetes manifests of deploy/kubernetes/ read as the cluster reads
them, for the tests: the documents of each file, the shards' Job, and the
exact argv the pod of one shard runs (``pod_argv``), so that a test can start
those very commands as processes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
SHARDS_JOB = "shards-job.yaml"
# Set by the Job controller in every pod of an Indexed Job: its index.
INDEX_VARIABLE = "JOB_COMPLETION_INDEX"
# Kubernetes' expansion of command and args: $(VAR) from the container's
# environment, $$ an escaped $, an undefined $(VAR) left as it is.
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest (kustomization.yaml is kustomize's, not a
    Kubernetes resource)."""
    return sorted(path for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def shards_job() -> dict[str, Any]:
    (job,) = documents(DEPLOY / SHARDS_JOB)
    return job


def shard_container() -> dict[str, Any]:
    (container,) = shards_job()["spec"]["template"]["spec"]["containers"]
    return container


def scenario_text() -> str:
    """The scenario the shards run: the fleetsim-scenario ConfigMap's file."""
    (config_map,) = documents(DEPLOY / "scenario.yaml")
    return config_map["data"]["scenario.toml"]


def expand(argument: str, env: Mapping[str, str]) -> str:
    """``argument`` as Kubernetes expands a container's command and args."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))
    return _REFERENCE.sub(replace, argument)


def pod_argv(index: int, count: int, env: Mapping[str, str], mounts: Mapping[str, Path] | None = None) -> list[str]:
    """The argv pod ``index`` of the shards' Job runs when the Job has
    ``count`` completions: the container's command and args with ``env``
    (CSMS_URL, RUN_ID, START_AT: what the fleetsim-run ConfigMap gives) and
    JOB_COMPLETION_INDEX expanded, and the N of ``--shard I/N`` set to
    ``count``, as the manifest's comment asks when changing N.  argv[0] is
    ``fleetsim``, the image's console script.  ``mounts`` maps the pod's
    mount paths (/scenario, /results) to folders outside a pod; an argument
    under any other path is left as the pod has it."""
    if not 0 <= index < count:
        raise ValueError(f"index {index} is not one of {count} shards")
    container = shard_container()
    declared = {entry["name"] for entry in container.get("env", [])}
    missing = declared - set(env)
    if missing:
        raise KeyError(f"the pod's environment needs {sorted(missing)}")
    values = {name: env[name] for name in declared} | {INDEX_VARIABLE: str(index)}
    argv = [expand(argument, values) for argument in [*container["command"], *container.get("args", [])]]
    if mounts:
        mount_paths = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        if unknown := set(mounts) - mount_paths:
            raise KeyError(f"the pod mounts nothing at {sorted(unknown)}; it mounts {sorted(mount_paths)}")
        argv = [_outside(argument, mounts) for argument in argv]
    shard = argv.index("--shard") + 1
    shard_index, _, _ = argv[shard].partition("/")
    argv[shard] = f"{shard_index}/{count}"
    return argv


def _outside(argument: str, mounts: Mapping[str, Path]) -> str:
    for mount_path, folder in mounts.items():
        if argument == mount_path or argument.startswith(mount_path.rstrip("/") + "/"):
            return str(folder) + argument[len(mount_path.rstrip("/")):]
    return argument
