from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_unavailable_model_exits_with_one_clear_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", "nvidia/Cosmos-Reason1-7B", "--port", "8765"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "nvidia/Cosmos-Reason1-7B" in lines[0] and "--model demo" in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_local_folder_is_explained(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "--model demo" in result.stderr


def test_a_path_that_does_not_exist_is_no_such_folder_not_a_hub_id(tmp_path):
    for model in ("/no/such/folder", "./nope", str(tmp_path / "a" / "b")):
        result = subprocess.run(
            [sys.executable, "-m", "cosmos_reason", "serve", "--model", model],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"cosmos-reason: error: --model {model}: no such folder (give a checkpoint folder, a Hugging "
            f"Face hub id such as nvidia/Cosmos-Reason1-7B, or --model demo)"
        ]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_hub_is_one_line_at_once_without_retries(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [sys.executable, "-m", "cosmos_reason", "serve", "--model", "nvidia/Cosmos-Reason1-7B", "--port", "8765"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Retry" not in result.stderr, result.stderr  # before: 22 retry lines, 33 s
    assert "out of reach (no connection to the hub)" in lines[0] and "hf download nvidia/Cosmos-Reason1-7B" in lines[0]
    jobs = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosmos_reason.jobs",
            "annotate",
            str(tmp_path),
            "--prompt",
            "?",
            "--out",
            str(tmp_path / "o.jsonl"),
            "--model",
            "nvidia/Cosmos-Reason1-7B",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert jobs.returncode == 1 and "out of reach" in jobs.stderr and "Retry" not in jobs.stderr, jobs.stderr


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cosmos_reason", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def test_an_unknown_demo_size_is_one_line_naming_the_flag_and_the_choices(tmp_path):
    from cosmos_reason.demo.checkpoint import SIZES

    result = _cli("make-demo-model", str(tmp_path / "d"), "--size", "huge")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --size: invalid choice: 'huge'" in result.stderr
    assert all(f"'{size}'" in result.stderr for size in SIZES)


def test_make_demo_model_into_a_foreign_folder_is_one_line(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = _cli("make-demo-model", str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"cosmos-reason: error: {tmp_path} exists and is not a demo checkpoint; refusing to overwrite it"
    ]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_serve_on_a_missing_gpu_is_one_line_naming_device(demo_cache_dir):
    env = {**os.environ, "COSMOS_REASON_CACHE": str(demo_cache_dir)}
    result = _cli("serve", "--model", "demo", "--device", "cuda", "--port", "8766", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cosmos-reason: error: --device cuda: no CUDA GPU")
    bad = _cli("serve", "--model", "demo", "--device", "gpu0", "--port", "8766", env=env)
    assert bad.returncode == 1 and "--device gpu0: not a device" in bad.stderr and "Traceback" not in bad.stderr


COMMANDS = ("serve", "make-demo-model", "annotate", "critic", "run-batch", "eval", "frames", "report", "export")


def _help(capsys, *args: str) -> str:
    from cosmos_reason.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_every_command_with_examples_and_there_is_a_version(capsys):
    from importlib.metadata import version

    from cosmos_reason.cli import main

    text = _help(capsys)
    description = text.split("commands:")[0]
    assert all(word in description for word in ("Serve", "annotate", "rank", "Batch API"))
    examples = text.split("examples:")[1]
    assert all(f"cosmos-reason {command} " in examples for command in COMMANDS)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"cosmos-reason {version('cosmos-reason')}"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_ends_with_an_example(capsys, command):
    text = _help(capsys, command)
    assert f"example:\n  cosmos-reason {command} " in text


def test_critic_and_run_batch_help_show_only_options_that_apply(capsys):
    critic = _help(capsys, "critic")
    assert "--top-p" not in critic and "--reasoning" not in critic and "per actor" not in critic
    assert "--temperature" in critic and "--max-tokens" in critic  # /v1/score takes these
    batch = _help(capsys, "run-batch")
    assert "--top-p" not in batch and "--fps" not in batch and "per actor" not in batch and "--ray" not in batch


HEAVY = ("torch", "av", "transformers")  # seconds to import; a command that needs them imports them itself

LOADED_BY_HELP = """
import sys
from cosmos_reason.cli import main
import cosmos_reason.settings
commands = ("serve", "annotate", "critic", "run-batch", "eval", "frames", "report", "export")
for argv in (["--help"], *([command, "--help"] for command in commands)):
    try:
        main(argv)
    except SystemExit:
        pass
print("imported:", *[name for name in HEAVY if name in sys.modules])
"""


def test_help_and_the_settings_import_neither_torch_nor_pyav():
    """`cosmos-reason --help` answers at once: the CLI, the settings and every command's --help
    import no torch, PyAV or transformers (a fresh interpreter, since this one has them)."""
    result = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{LOADED_BY_HELP}"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "imported:"


def test_a_mistyped_flag_shows_the_commands_usage(capsys):
    from cosmos_reason.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["critic", "a.mp4", "--qestion", "Is it real?"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("usage: cosmos-reason critic") and "unrecognized arguments: --qestion" in err


def test_serve_takes_the_model_as_a_positional_argument_like_vllm():
    from cosmos_reason.cli import build_parser, parse_args
    from cosmos_reason.server.flags import settings_from_args

    parser = build_parser()
    assert (
        settings_from_args(parse_args(parser, ["serve", "nvidia/Cosmos-Reason1-7B"])).model
        == "nvidia/Cosmos-Reason1-7B"
    )
    assert settings_from_args(parse_args(parser, ["serve", "--model", "demo"])).model == "demo"
    assert settings_from_args(parse_args(parser, ["serve"])).model == "nvidia/Cosmos-Reason1-7B"  # the default
    with pytest.raises(ValueError, match="given twice"):
        settings_from_args(parse_args(parser, ["serve", "a/b", "--model", "c/d"]))
    result = _cli("serve", "/no/such/folder")  # through the whole command: taken as --model
    assert result.returncode == 1 and "--model /no/such/folder: no such folder" in result.stderr
