"""deploy/kubernetes/: every manifest valid against the Kubernetes API
schemas, offline; the shards' Indexed Job one pod per shard, never retried,
running the `fleetsim run --shard` command line the CLI accepts; the scenario
and the results where the pods look for them."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import click
import jsonschema
import kubernetes_validate
import pytest
from manifests import (
    DEPLOY,
    INDEX_VARIABLE,
    SHARDS_JOB,
    documents,
    expand,
    manifest_files,
    pod_argv,
    scenario_text,
    shard_container,
    shards_job,
)

from fleetsim.cli import main
from fleetsim.scenario.load import load_scenario

# A recent release kubernetes-validate ships the schemas of; backoffLimitPerIndex
# and podReplacementPolicy, which the shards' Job uses, are GA since 1.33 and 1.34.
KUBERNETES_VERSION = "1.34"
ROOT = DEPLOY.parent.parent
ENV = {"CSMS_URL": "wss://csms.example.com/ocpp", "RUN_ID": "soak-7", "START_AT": "2026-12-06T12:00:00Z"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access: {args}")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _validate(resource: dict) -> str:
    return kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def _job(name: str) -> dict:
    (job,) = documents(DEPLOY / name)
    return job


def _shard_count() -> int:
    argv = shard_container()["command"]
    return int(argv[argv.index("--shard") + 1].rpartition("/")[2])


def test_there_are_manifests_to_validate() -> None:
    kinds = {document["kind"] for path in manifest_files() for document in documents(path)}
    assert kinds == {"ConfigMap", "PersistentVolumeClaim", "Job"}


@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_every_manifest_validates_against_the_kubernetes_schemas_offline(path: Path, no_network: None) -> None:
    for resource in documents(path):
        # strict: a field the API does not know (a typo) is an error too
        assert _validate(resource) == KUBERNETES_VERSION


@pytest.mark.parametrize(("where", "value"), [
    (("spec", "completion"), 4),  # a misspelled field
    (("spec", "parallelism"), "four"),
    (("spec", "template", "spec", "containers"), [{"image": "fleetsim:latest"}]),  # no name
])
def test_the_validation_catches_a_broken_job(where: tuple[str, ...], value: object, no_network: None) -> None:
    job = copy.deepcopy(shards_job())
    parent = job
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        _validate(job)


def test_kustomize_applies_every_manifest_but_the_merge_step() -> None:
    kustomization = documents(DEPLOY / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    # The merge-and-gate Job starts only once the shards have ended (run.sh).
    assert sorted(kustomization["resources"]) == sorted(
        path.name for path in manifest_files() if path.name != "merge-job.yaml")


def test_the_shards_job_runs_one_pod_per_shard_and_never_retries_one() -> None:
    spec = shards_job()["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == _shard_count() >= 2
    # A retried shard would start alone, after START_AT, into the first one's folder.
    assert spec["backoffLimitPerIndex"] == 0
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert shard_container()["image"] == "fleetsim:latest"
    assert _job("merge-job.yaml")["spec"]["backoffLimit"] == 0


def test_the_pods_find_the_scenario_and_the_shared_results_volume() -> None:
    pod = shards_job()["spec"]["template"]["spec"]
    mounts = {mount["mountPath"]: mount["name"] for mount in shard_container()["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    scenario = volumes[mounts["/scenario"]]["configMap"]
    (config_map,) = documents(DEPLOY / "scenario.yaml")
    assert scenario["name"] == config_map["metadata"]["name"]
    assert [item["path"] for item in scenario["items"]] == ["scenario.toml"]
    assert set(config_map["data"]) == {"scenario.toml"}
    (claim,) = documents(DEPLOY / "results-pvc.yaml")
    assert volumes[mounts["/results"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # shards on many nodes, one merge pod
    merge_pod = _job("merge-job.yaml")["spec"]["template"]["spec"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in merge_pod["volumes"]] == [claim["metadata"]["name"]]
    assert merge_pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/results"


@pytest.mark.parametrize("name", [SHARDS_JOB, "merge-job.yaml"])
def test_the_environment_comes_from_the_run_config(name: str) -> None:
    (run_config,) = documents(DEPLOY / "run-config.yaml")
    (container,) = _job(name)["spec"]["template"]["spec"]["containers"]
    for entry in container["env"]:
        reference = entry["valueFrom"]["configMapKeyRef"]
        assert reference["name"] == run_config["metadata"]["name"]
        assert reference["key"] == entry["name"] and entry["name"] in run_config["data"]
    if name == SHARDS_JOB:  # every $(VAR) of the command is defined in the pod
        defined = {entry["name"]: "x" for entry in container["env"]} | {INDEX_VARIABLE: "0"}
        assert all("$(" not in expand(argument, defined) for argument in container["command"])


def test_the_configmap_holds_a_shipped_scenario_that_stands_alone(tmp_path: Path) -> None:
    text = scenario_text()
    assert text == (ROOT / "scenarios" / "ac-public-day.toml").read_text()
    # Mounted alone at /scenario: it must name no file beside it.
    (tmp_path / "scenario.toml").write_text(text)
    loaded = load_scenario(tmp_path / "scenario.toml")
    assert loaded.thresholds, "the merge-and-gate step judges the scenario's thresholds"


def test_pod_argv_is_the_manifests_command_for_each_shard() -> None:
    argvs = [pod_argv(index, 3, ENV) for index in range(3)]
    assert argvs[1] == ["fleetsim", "run", "/scenario/scenario.toml", "--csms", "wss://csms.example.com/ocpp",
                        "--shard", "1/3", "--start-at", "2026-12-06T12:00:00Z", "--out", "/results/soak-7/shard-1",
                        "--quiet"]
    assert [argv[argv.index("--out") + 1] for argv in argvs] == [f"/results/soak-7/shard-{i}" for i in range(3)]
    outside = pod_argv(0, 2, ENV, {"/scenario": Path("/tmp/s"), "/results": Path("/tmp/r")})
    assert outside[2] == "/tmp/s/scenario.toml" and outside[outside.index("--out") + 1] == "/tmp/r/soak-7/shard-0"
    with pytest.raises(ValueError, match="index 3 is not one of 3 shards"):
        pod_argv(3, 3, ENV)
    with pytest.raises(KeyError, match="START_AT"):
        pod_argv(0, 3, {"CSMS_URL": "ws://x", "RUN_ID": "r"})


def _parse(argv: list[str]) -> click.Context:
    """``argv`` parsed as the fleetsim CLI parses it, nothing run."""
    assert argv[0] == "fleetsim"
    with main.make_context("fleetsim", argv[1:]) as group:
        name, command, args = main.resolve_command(group, argv[1:])
        assert command is not None
        return command.make_context(name, args, parent=group)


def _has_options(*options: str) -> bool:
    run = main.get_command(click.Context(main), "run")
    return set(options) <= {opt for param in run.params for opt in param.opts}


def test_the_pod_command_is_a_run_command_line_the_cli_accepts_but_the_shard_options() -> None:
    # What the CLI has today parses; --shard and --start-at are checked below.
    argv = pod_argv(2, 4, ENV)
    for option in ("--shard", "--start-at"):
        at = argv.index(option)
        del argv[at:at + 2]
    params = _parse(argv).params
    assert params["scenario_path"] == Path("/scenario/scenario.toml")
    assert params["csms_url"] == ENV["CSMS_URL"]
    assert params["out"] == Path("/results/soak-7/shard-2")
    assert params["quiet"] is True


@pytest.mark.skipif(not _has_options("--shard", "--start-at"), reason="fleetsim run has no --shard/--start-at yet")
def test_the_pod_command_is_a_run_command_line_the_cli_accepts() -> None:
    for index in range(4):
        context = _parse(pod_argv(index, 4, ENV))
        assert context.command.name == "run"
        assert context.params["out"] == Path(f"/results/soak-7/shard-{index}")

