"""deploy/: the front's command lines in the compose files and the Kubernetes manifest are
ones our `serve` accepts, with upstream URLs our --upstream syntax reads, and the vLLM
replicas behind them are started the way the front needs (every pre-sampled frame kept, no
reasoning parser, the model name the front asks for). (The files themselves need GPUs and
Docker or a cluster; they are not run here.)"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from cosmos_reason.cli import build_parser
from cosmos_reason.engine.upstream.pool import parse_upstream
from cosmos_reason.families.registry import default_family
from cosmos_reason.server.flags import settings_from_args

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def dockerfile_entrypoint() -> list[str]:
    """The image's ENTRYPOINT after `cosmos-reason serve`: compose and Kubernetes append their args to it."""
    line = next(line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if line.startswith("ENTRYPOINT"))
    command = json.loads(line.removeprefix("ENTRYPOINT"))
    assert command[:2] == ["cosmos-reason", "serve"]
    return command[2:]


def compose_front() -> list[str]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["cosmos-reason"]["command"]


def reason2_front() -> list[str]:
    """The front after `-f docker-compose.yml -f docker-compose.reason2.yml` (compose replaces a
    service's `command` with the override's)."""
    return yaml.safe_load((DEPLOY / "docker-compose.reason2.yml").read_text())["services"]["cosmos-reason"]["command"]


def compose_replicas(name: str) -> list[list[str]]:
    services = yaml.safe_load((DEPLOY / name).read_text())["services"]
    return [shlex.split(services[f"vllm-{i}"]["command"]) for i in range(2)]


def kubernetes_replicas() -> list[list[str]]:
    for doc in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()):
        if doc and doc.get("kind") == "StatefulSet":
            return [doc["spec"]["template"]["spec"]["containers"][0]["args"]]
    raise AssertionError("no vLLM StatefulSet in kubernetes.yaml")


def vllm_flags(command: list[str]) -> dict[str, str]:
    """`--name value` and `--name=value` forms alike, by name."""
    flags, words = {}, iter(command)
    for word in words:
        assert word.startswith("--"), command
        name, sep, value = word.partition("=")
        flags[name] = value if sep else next(words)
    return flags


def kubernetes_front() -> list[str]:
    for doc in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "cosmos-reason":
            return doc["spec"]["template"]["spec"]["containers"][0]["args"]
    raise AssertionError("no cosmos-reason Deployment in kubernetes.yaml")


@pytest.mark.parametrize("front", [compose_front, kubernetes_front, reason2_front])
def test_the_fronts_command_line_is_one_serve_accepts(front):
    args = build_parser().parse_args(["serve", *dockerfile_entrypoint(), *front()])
    settings = settings_from_args(args)
    # In a container, loopback is unreachable from outside: the image must ask for every interface
    # itself, whatever the key (without one the server would bind 127.0.0.1).
    assert args.host == "0.0.0.0" and settings.host == "0.0.0.0"
    assert settings.engine == "upstream" and settings.workers == 4
    specs = [parse_upstream(url, environ={"VLLM_API_KEY": "k"}) for url in settings.upstreams]
    model = "nvidia/Cosmos-Reason2-8B" if front is reason2_front else "nvidia/Cosmos-Reason1-7B"
    assert len(specs) == 2 and all(s.model == model and s.api_key == "k" for s in specs)
    assert settings.served_model_names == (model,)
    # The front can't read the replicas' config.json: it must be told their family.
    assert (settings.family or default_family().name) == ("reason2" if front is reason2_front else "reason1")


@pytest.mark.parametrize(
    ("replicas", "front"),
    [
        (lambda: compose_replicas("docker-compose.yml"), compose_front),
        (kubernetes_replicas, kubernetes_front),
        (lambda: compose_replicas("docker-compose.reason2.yml"), reason2_front),
    ],
    ids=["compose", "kubernetes", "compose-reason2"],
)
def test_the_vllm_replicas_serve_what_the_front_asks_for(replicas, front):
    settings = settings_from_args(build_parser().parse_args(["serve", *dockerfile_entrypoint(), *front()]))
    asked = {parse_upstream(url, environ={"VLLM_API_KEY": "k"}).model for url in settings.upstreams}
    for command in replicas():
        flags = vllm_flags(command)
        assert {flags["--served-model-name"]} == asked
        # The family the front was told is the one of the checkpoint the replica loads.
        family = "reason2" if "Cosmos-Reason2" in flags["--model"] else "reason1"
        assert (settings.family or default_family().name) == family
        # Every pre-sampled frame the front sends is kept (vLLM's default keeps 32) ...
        assert json.loads(flags["--media-io-kwargs"])["video"]["num_frames"] == -1
        # ... and the raw text comes back: the front splits the reasoning itself.
        assert "--reasoning-parser" not in flags
        assert json.loads(flags["--limit-mm-per-prompt"])["video"] >= 1
