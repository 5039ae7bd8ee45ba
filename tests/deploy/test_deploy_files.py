"""deploy/: the front's command lines in the compose file and the Kubernetes manifest are
ones our `serve` accepts, with upstream URLs our --upstream syntax reads. (The files
themselves need GPUs and Docker or a cluster; they are not run here.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cosmos_reason.cli import build_parser
from cosmos_reason.engine.upstream.pool import parse_upstream
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


def kubernetes_front() -> list[str]:
    for doc in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()):
        if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] == "cosmos-reason":
            return doc["spec"]["template"]["spec"]["containers"][0]["args"]
    raise AssertionError("no cosmos-reason Deployment in kubernetes.yaml")


@pytest.mark.parametrize("front", [compose_front, kubernetes_front])
def test_the_fronts_command_line_is_one_serve_accepts(front):
    args = build_parser().parse_args(["serve", *dockerfile_entrypoint(), *front()])
    settings = settings_from_args(args)
    # In a container, loopback is unreachable from outside: the image must ask for every interface
    # itself, whatever the key (without one the server would bind 127.0.0.1).
    assert args.host == "0.0.0.0" and settings.host == "0.0.0.0"
    assert settings.engine == "upstream" and settings.workers == 4
    specs = [parse_upstream(url, environ={"VLLM_API_KEY": "k"}) for url in settings.upstreams]
    assert len(specs) == 2 and all(s.model == "nvidia/Cosmos-Reason1-7B" and s.api_key == "k" for s in specs)
