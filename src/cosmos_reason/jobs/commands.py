"""What each jobs command does once its arguments are parsed: annotate, critic, run-batch.

The flags are jobs/cli.py's; exit codes and options: docs/jobs.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

log = logging.getLogger("cosmos_reason.jobs")
#: The request options each command takes as flags (besides --options JSON).
REQUEST_OPTIONS = ("max_tokens", "temperature", "top_p", "seed", "reasoning", "fps", "max_pixels", "options")
CRITIC_OPTIONS = ("max_tokens", "temperature", "seed", "fps", "max_pixels", "options")


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s" if quiet else "%(levelname)s %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {name: getattr(args, name, None) for name in REQUEST_OPTIONS if name != "options"}
    return {k: v for k, v in options.items() if v is not None} | args.options


def _serve_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    if args.dtype:
        out += ["--dtype", args.dtype]
    if args.device:
        out += ["--device", args.device]
    return out


def _fail(message: str, code: int = 1) -> int:
    print(f"cosmos-reason: error: {message}", file=sys.stderr)
    return code


def make_target(args: argparse.Namespace):
    from .clients import in_process_target, server_target

    if bool(args.server) == bool(args.model):
        raise ValueError("give either --server URL (a running server) or --model MODEL (in this process)")
    if args.server:
        return server_target(args.server, args.api_key, timeout=args.timeout, concurrency=args.concurrency)
    return in_process_target(args.model, _serve_args(args), timeout=args.timeout)


def _finish(summary, what: str) -> int:
    if isinstance(summary, int):  # the job could not start; _guard said why
        return summary
    print(summary.text(what), file=sys.stderr)
    print(json.dumps({"summary": summary.as_dict()}))
    return summary.exit_code()


def _bar_logging(quiet: bool):
    if quiet:
        return nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


# ---- commands ------------------------------------------------------------------


def server_task(server: str, api_key: str | None, name: str, timeout: float) -> dict[str, Any]:
    """GET /v1/tasks/NAME of the server: the task's summary and `recipe`. ValueError says why not."""
    import httpx

    from .clients import _env_key, server_url

    key = api_key or _env_key()
    url = f"{server_url(server)}/v1/tasks/{name}"
    try:
        reply = httpx.get(url, headers={"authorization": f"Bearer {key}"} if key else {}, timeout=min(timeout, 60))
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot ask {server_url(server)} for task {name!r}: {exc}") from None
    body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
    if reply.status_code == 404 and "unknown task" in str(body.get("error", {}).get("message")):
        raise ValueError(body["error"]["message"] + " (on " + server_url(server) + ")")
    if reply.status_code != 200 or not isinstance(body.get("recipe"), dict):
        raise ValueError(
            f"{url}: HTTP {reply.status_code}, not a task recipe (a cosmos-reason server older than --recipes?)"
        )
    return body


def annotate_command(args: argparse.Namespace) -> int:
    from ..recipes.files import RecipeError, load_recipe_file, recipe_mapping
    from ..recipes.recipe import UnknownTaskError
    from .annotate import AnnotateJob
    from .execution import RetryPolicy
    from .inputs import InputError, discover

    _setup_logging(args.quiet)
    if args.task and args.recipe:
        return _fail("give --task NAME or --recipe FILE, not both", 2)
    extra = {"schema": args.schema} if args.schema is not None else {}
    if args.task:
        try:
            args.task = _task_of_some_family(args.task)
        except UnknownTaskError as exc:
            if not args.server:
                return _fail(str(exc), 2)
            try:  # a task the server added (serve --recipes): sent whole, as with --recipe
                found = server_task(args.server, args.api_key, args.task, args.timeout)
            except ValueError as exc:
                return _fail(str(exc), 2 if "unknown task" in str(exc) else 1)
            args.task, extra["recipe"] = found["name"], found["recipe"]
    if args.recipe:  # sent whole with each request (`recipe`), so the server needs no copy of the file
        try:
            spec = load_recipe_file(args.recipe)
        except RecipeError as exc:
            return _fail(str(exc))
        args.task, extra["recipe"] = spec.name, recipe_mapping(spec)
    try:
        items = discover(
            args.input, manifest=args.manifest, prompt=args.prompt, task=args.task, options=_options(args) | extra
        )
    except InputError as exc:
        return _fail(str(exc))
    if args.limit is not None:
        items = items[: args.limit]
    if not (args.task or args.prompt) and any(not (i.prompt or i.task) for i in items):
        return _fail("give --task NAME or --prompt TEXT (or a prompt or task for every manifest item)", 2)
    log.info("%d files or URLs from %s", len(items), args.input)
    policy = RetryPolicy(attempts=max(1, args.retries))
    job = AnnotateJob(
        items,
        args.out,
        concurrency=args.concurrency,
        policy=policy,
        quiet=args.quiet,
        retry_errors=args.retry_errors,
        timeout=args.timeout,
        redo=args.redo,
        # --task is checked against the served model's recipes; a recipe sent whole (--recipe, or a
        # task only the server has) is the server's to check
        task=None if "recipe" in extra else args.task,
    )
    if args.ray:
        if not args.model:
            return _fail("--ray needs --model (each Ray actor loads its own engine)", 2)
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return _fail("--ray needs Ray Data: pip install 'cosmos-reason[ray]'")
        from .ray_runner import run_annotate_ray

        def ray_run():
            return run_annotate_ray(
                job,
                address=None if args.ray == "local" else args.ray,
                model=args.model,
                serve_args=_serve_args(args),
                actors=args.actors,
                gpus_per_actor=args.gpus_per_actor,
                cpus_per_actor=args.cpus_per_actor,
                batch_size=args.concurrency,
            )

        try:
            with _bar_logging(args.quiet):
                summary = _guard(ray_run, job)
        except Exception as exc:  # noqa: BLE001 - a failed actor or cluster; the lines written so far stay
            return _fail(f"the Ray run failed ({type(exc).__name__}: {exc}); rerun the same command to resume")
        return _finish(summary, "items")
    return _finish(run_on_target(job, args), "items")


def run_on_target(job, args: argparse.Namespace):
    """Run `job` against the target the flags name (--server or --model): its Summary, or an
    exit code when the target cannot be used or the run was stopped."""
    from .annotate import run_job

    try:
        job.target = make_target(args)
    except Exception as exc:  # noqa: BLE001 - a model that cannot load, a bad URL: one line
        return _fail(str(exc))

    async def main() -> None:
        try:
            await job.run()
        finally:
            await job.target.aclose()

    with _bar_logging(args.quiet):
        return _guard(lambda: run_job(job, main), job)


def _task_of_some_family(name: str) -> str:
    """The task's name when some model family has it (which one serves is known once the model is
    loaded or asked: AnnotateJob.check_task); else UnknownTaskError listing the default family's."""
    from ..families.registry import FAMILIES, get_task
    from ..recipes.recipe import UnknownTaskError

    first: UnknownTaskError | None = None
    for family in FAMILIES:
        try:
            return get_task(name, family).name
        except UnknownTaskError as exc:
            first = first or exc
    assert first is not None
    raise first


def _guard(run, job):
    from .annotate import TaskNotServed
    from .clients import TargetError
    from .journal import ForeignLines, JournalLocked
    from .rerun import OptionsChanged

    try:
        return run()
    except (JournalLocked, ForeignLines, TargetError) as exc:
        return _fail(str(exc))
    except (OptionsChanged, TaskNotServed) as exc:
        return _fail(str(exc), 2)
    except OSError as exc:  # the output cannot be written: a folder, no such parent, no space, no permission
        if isinstance(exc, TimeoutError):
            raise
        where = exc.filename or getattr(job, "out", None) or getattr(job, "journal", None)
        return _fail(f"cannot write {where}: {exc.strerror or exc}")


def critic_command(args: argparse.Namespace) -> int:

    from .critic import best, chart_title, earlier_rows, plot_ranking, run_critic, write_ranking
    from .execution import RetryPolicy

    _setup_logging(args.quiet)
    try:
        target = make_target(args)
    except Exception as exc:  # noqa: BLE001
        return _fail(str(exc))
    options = _options(args)
    earlier = earlier_rows(args.out, retry_errors=args.retry_errors)

    async def main() -> list[dict]:
        try:
            return await run_critic(
                target,
                args.candidates,
                prompt=args.prompt,
                question=args.question,
                reward=args.reward,
                n=args.n,
                options=options,
                concurrency=args.concurrency,
                policy=RetryPolicy(attempts=max(1, args.retries)),
                quiet=args.quiet,
                timeout=args.timeout,
                earlier=earlier,
            )
        finally:
            await target.aclose()

    try:
        with _bar_logging(args.quiet):
            rows = asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the target could not be used at all
        return _fail(str(exc))
    chart = args.chart or str(Path(args.out).with_suffix(".png"))
    try:
        write_ranking(rows, args.out)
        drawn = plot_ranking(rows, chart, title=chart_title(args.reward, args.n, args.prompt))
    except OSError as exc:
        return _fail(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}")
    for row in rows:
        score = "no score: " + row["error"]["message"] if row["score"] is None else f"{row['score']:.3f}"
        print(f"{row['rank'] or '-':>3}  {score:>8}  {row['candidate']}", file=sys.stderr)
    reused = sum(1 for row in rows if row.get("reused"))
    if reused:
        print(
            f"{reused} of {len(rows)} kept from {args.out} (asked the same way before; --retry-errors asks "
            f"failed ones again)",
            file=sys.stderr,
        )
    winner = best(rows)
    if winner is None:
        print(
            "cosmos-reason: no candidate could be scored, so none is best (see each one's error above)", file=sys.stderr
        )
    print(json.dumps({"best": winner, "ranking": args.out, "chart": chart if drawn else None}))
    return 3 if any(row["score"] is None for row in rows) else 0


def batch_command(args: argparse.Namespace) -> int:
    from .annotate import run_job
    from .batch import BatchInputError, BatchJob, read_requests
    from .execution import RetryPolicy

    _setup_logging(args.quiet)
    try:
        requests = read_requests(args.input)
    except BatchInputError as exc:
        return _fail(str(exc))
    try:
        target = make_target(args)
    except Exception as exc:  # noqa: BLE001
        return _fail(str(exc))
    job = BatchJob(
        requests,
        args.output,
        target,
        concurrency=args.concurrency,
        policy=RetryPolicy(attempts=max(1, args.retries)),
        quiet=args.quiet,
        force_model=args.force_model,
        timeout=args.timeout,
        retry_errors=args.retry_errors,
    )

    async def main() -> None:
        try:
            await job.run()
        finally:
            await target.aclose()

    with _bar_logging(args.quiet):
        summary = _guard(lambda: run_job(job, main), job)
    return _finish(summary, "requests")
