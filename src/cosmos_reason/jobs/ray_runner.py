"""`cosmos-reason annotate --ray [ADDRESS]`: the same annotation over a Ray cluster
(options: docs/jobs.md, "Ray").

Ray Data does the distribution; nothing here schedules. The driver:

1. opens the output (lock, repair, index) and resolves every item exactly as a local
   run does (skip what is done, copy duplicates, hash the rest);
2. hands the remaining work to ``Dataset.map_batches`` over an actor pool: each actor
   builds one in-process engine (``create_app`` + the serve command's settings, so the
   media pipeline, sampling defaults and limits are the server's) and returns rows;
3. writes each row to the output as it streams back, durable before the next.

Only the driver writes, so a crash anywhere loses at most the rows in flight, which
the next run redoes: the guarantees are the local run's. Local paths must be readable
on every node (shared storage), or use URLs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from .annotate import AnnotateJob, Resolved
from .annotate_output import retryable
from .execution import RetryPolicy, Summary, in_thread, run_pool
from .inputs import read_bytes
from .work import Work, execute, reused_row

log = logging.getLogger("cosmos_reason.jobs")


class AnnotateActor:
    """One engine per actor; called by Ray Data with a batch of serialized Work."""

    def __init__(self, model: str, serve_args: list[str] | None, attempts: int, timeout: float | None) -> None:
        from .clients import in_process_target

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.policy = RetryPolicy(attempts=attempts)
        self.timeout = timeout
        self.target = in_process_target(model, serve_args, timeout=timeout or 600.0)
        self.model = self.loop.run_until_complete(self.target.model_id())

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        works = [Work(**json.loads(text)) for text in batch["work"]]

        async def run_all() -> list[dict[str, Any]]:
            return await asyncio.gather(*(self._one(work) for work in works))

        rows = self.loop.run_until_complete(run_all())
        return {"row": np.array([json.dumps(row, ensure_ascii=False) for row in rows], dtype=object)}

    async def _one(self, work: Work) -> dict[str, Any]:
        data = None
        if not work.is_url and work.kind and not work.read_error:
            try:
                data = await in_thread(read_bytes, work.item)
            except OSError as exc:
                work.read_error = f"cannot read {work.item} on {os.uname().nodename}: {exc.strerror or exc}"
        row = await execute(self.target, self.model, self.policy, work, data, self.timeout)
        row["model"] = row.get("model") or self.model
        return row


def run_annotate_ray(
    job: AnnotateJob,
    *,
    address: str | None,
    model: str,
    serve_args: list[str] | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float = 1.0,
    batch_size: int = 4,
    num_cpus: int | None = None,
) -> Summary:
    """Run `job` (its items and output) on Ray; address None starts a local instance."""
    pending: list[Work] = []
    duplicates: dict[str, list[Work]] = {}

    async def resolve_all() -> None:
        async def one(item) -> None:
            resolved = await job.resolve(item)
            if isinstance(resolved, str):
                job.output.count(resolved)
            elif isinstance(resolved, Resolved):
                work = resolved.work
                if work.key in duplicates:
                    duplicates[work.key].append(work)
                else:
                    duplicates[work.key] = []
                    pending.append(work)

        await run_pool(job.items, one, 8)

    job.open_journal()
    try:
        asyncio.run(job.sniff())
        job.start_progress()
        asyncio.run(resolve_all())
        if pending:
            _run_on_ray(
                job,
                pending,
                duplicates,
                address=address,
                model=model,
                serve_args=serve_args,
                actors=actors,
                gpus_per_actor=gpus_per_actor,
                cpus_per_actor=cpus_per_actor,
                batch_size=batch_size,
                num_cpus=num_cpus,
            )
    except KeyboardInterrupt:
        job.summary.interrupted = True
    finally:
        job.close()
    return job.summary


def _run_on_ray(
    job: AnnotateJob,
    pending: list[Work],
    duplicates: dict[str, list[Work]],
    *,
    address: str | None,
    model: str,
    serve_args: list[str] | None,
    actors: int,
    gpus_per_actor: float,
    cpus_per_actor: float,
    batch_size: int,
    num_cpus: int | None,
) -> None:
    import ray
    import ray.data

    started_here = False
    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k.startswith(("COSMOS_REASON_", "HF_", "TRANSFORMERS_"))}
        kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
        if address is None:
            kwargs.update(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
        ray.init(address=address, **kwargs)
        started_here = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        if hasattr(context, "enable_operator_progress_bars"):
            context.enable_operator_progress_bars = False
        dataset = ray.data.from_items(
            [{"work": json.dumps(work.to_dict(), ensure_ascii=False)} for work in pending],
            override_num_blocks=min(len(pending), max(1, actors) * 4),
        )
        rows = dataset.map_batches(
            AnnotateActor,
            fn_constructor_kwargs={
                "model": model,
                "serve_args": serve_args,
                "attempts": job.policy.attempts,
                "timeout": job.timeout,
            },
            compute=ray.data.ActorPoolStrategy(size=max(1, actors)),
            batch_size=max(1, batch_size),
            batch_format="numpy",
            num_gpus=gpus_per_actor or None,
            num_cpus=cpus_per_actor,
        )
        for batch in rows.iter_batches(batch_size=1, batch_format="numpy"):
            for text in batch["row"]:
                row = json.loads(text)
                job.output.write(row)
                for twin in duplicates.pop(row["key"], []):
                    if retryable(row):
                        job.output.count_unfinished()
                    else:
                        job.output.write(reused_row(row, twin))
    finally:
        if started_here:
            ray.shutdown()
