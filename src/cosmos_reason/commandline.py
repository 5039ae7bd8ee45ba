"""What every `cosmos-reason` subcommand's parser shares: its --help with an example, JSON-object
flags, and a progress bar on a terminal. The commands themselves live with their packages
(server, jobs, report); cli.py puts them together."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    *,
    help: str,
    example: str,  # noqa: A002
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with an example, and whose mistakes show its own usage
    (main() reports unknown flags through `command_parser`)."""
    parser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command_parser=parser)
    return parser


def json_object(text: str) -> dict[str, Any]:
    """argparse type of a flag whose value is a JSON object (--options '{"nframes": 8}')."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"nframes\": 8}}', got {text!r}")
    return value


def progress_bar(iterable: Iterable[Any], total: int, desc: str) -> Iterable[Any]:
    """`iterable` with a tqdm bar on stderr."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(iterable, total=total, desc=desc, unit="item", file=sys.stderr)
