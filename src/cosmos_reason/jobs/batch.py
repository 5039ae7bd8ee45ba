"""`cosmos-reason run-batch`: OpenAI Batch API files, run against this server.
Formats and options: docs/jobs.md ("OpenAI batch files").

Each input line (``custom_id``, ``method``, ``url``, ``body``) is one request; each output line is
the Batch API's, written as its answer arrives with the same guarantees as annotate, keyed by
``custom_id``. A request that got no answer after all retries gets ``error:
retries_exhausted`` and is redone by the next run. When the first answers all say the file's
model is not the one served, the run stops without writing them and names ``--force-model``.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .clients import Target
from .execution import Breaker, Progress, RetriesExhausted, RetryPolicy, Summary, TargetDown, run_pool, with_retries
from .journal import Journal, Row

log = logging.getLogger("cosmos_reason.jobs")
RETRYABLE_CODE = "retries_exhausted"
MODEL_MISMATCH_LINES = 3  # stop when the first this many answers all say "no such model"
SUPPORTED_URLS = ("/v1/chat/completions", "/v1/score")


class BatchInputError(ValueError):
    pass


class BatchRequestInput(BaseModel):
    """One line of a Batch API input file."""

    model_config = ConfigDict(extra="allow")

    custom_id: str
    method: Literal["POST"]
    url: str
    body: dict[str, Any]

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class BatchResponse(BaseModel):
    status_code: int
    request_id: str | None = None
    body: Any = None


class BatchError(BaseModel):
    code: str
    message: str


class BatchRequestOutput(BaseModel):
    """One line of a Batch API output file."""

    id: str
    custom_id: str
    response: BatchResponse | None
    error: BatchError | None


def read_requests(path: str | os.PathLike) -> list[BatchRequestInput]:
    """Every request of the file, validated up front (as the Batch API does before it starts)."""
    requests: list[BatchRequestInput] = []
    seen: dict[str, int] = {}
    try:
        handle = open(path, encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise BatchInputError(f"{path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                request = BatchRequestInput.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise BatchInputError(f"{path}:{number}: {where + ': ' if where else ''}{first['msg']}") from None
            if request.custom_id in seen:
                raise BatchInputError(
                    f"{path}:{number}: custom_id {request.custom_id!r} repeats line "
                    f"{seen[request.custom_id]}; each request needs its own"
                )
            seen[request.custom_id] = number
            if request.url not in SUPPORTED_URLS:
                log.warning(
                    "%s:%d: url %s is not one this server answers (%s)",
                    path,
                    number,
                    request.url,
                    ", ".join(SUPPORTED_URLS),
                )
            requests.append(request)
    return requests


def _line_id() -> str:
    return f"batch_req_{uuid.uuid4().hex}"


def output_line(
    custom_id: str,
    *,
    status: int | None = None,
    request_id: str | None = None,
    body: Any = None,
    error: tuple[str, str] | None = None,
) -> Row:
    return BatchRequestOutput(
        id=_line_id(),
        custom_id=custom_id,
        response=None if status is None else BatchResponse(status_code=status, request_id=request_id, body=body),
        error=None if error is None else BatchError(code=error[0], message=error[1]),
    ).model_dump()


def retryable(row: Row) -> bool:
    return row.get("response") is None and (row.get("error") or {}).get("code") == RETRYABLE_CODE


def is_error(row: Row) -> bool:
    """No answer, or an HTTP error answer (as OpenAI's output files record a 4xx)."""
    response = row.get("response")
    return (
        row.get("error") is not None
        or not isinstance(response, dict)
        or not 200 <= int(response.get("status_code") or 0) < 300
    )


def is_model_not_found(reply) -> bool:
    """A 404 about the request's model (our server's code; vLLM's and OpenAI's wording)."""
    if reply.status != 404 or not isinstance(reply.body, dict):
        return False
    error = reply.body.get("error") if isinstance(reply.body.get("error"), dict) else reply.body
    text = str(error.get("message") or "").lower()
    return (
        error.get("code") == "model_not_found"
        or error.get("param") == "model"
        or ("model" in text and "does not exist" in text)
    )


class ModelMismatch(Exception):
    """The first answers all said the batch file's model is not the one served."""


class BatchJob:
    def __init__(
        self,
        requests: list[BatchRequestInput],
        out: str | os.PathLike,
        target: Target,
        *,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        quiet: bool = False,
        force_model: bool = False,
        timeout: float | None = None,
        breaker_limit: int | None = None,
        retry_errors: bool = False,
    ) -> None:
        self.requests = requests
        self.out = Path(out)
        self.target = target
        self.concurrency = max(1, concurrency)
        self.policy = policy or RetryPolicy()
        self.quiet = quiet
        self.force_model = force_model
        self.retry_errors = retry_errors
        self.timeout = timeout
        self.breaker = Breaker(breaker_limit or max(8, 2 * self.concurrency))
        self.summary = Summary(total=len(requests))
        self.done: set[str] = set()
        self.errors: set[str] = set()  # custom_ids whose line is an error
        self.misses: list[tuple[BatchRequestInput, Row]] | None = []  # model-not-found lines held back (_check_model)
        self.model: str | None = None
        self.journal: Journal | None = None
        self.progress: Progress | None = None

    def _index(self, offset: int, row: Row) -> None:
        if isinstance(row.get("custom_id"), str):
            self.done.add(row["custom_id"])
            if is_error(row):
                self.errors.add(row["custom_id"])

    def _drop(self, row: Row) -> bool:
        return retryable(row) or (self.retry_errors and is_error(row))

    async def _one(self, request: BatchRequestInput) -> None:
        assert self.journal is not None and self.progress is not None
        if request.custom_id in self.done:
            self.summary.skipped += 1
            self.summary.failed_before += request.custom_id in self.errors
            self.progress.skip()
            return
        body = dict(request.body)
        if body.get("stream"):
            body["stream"] = False
            body.pop("stream_options", None)
        if self.force_model and self.model:
            body["model"] = self.model
        try:
            reply, _ = await with_retries(
                lambda: self.target.post(request.url, body, timeout=self.timeout), self.policy, what=request.custom_id
            )
        except RetriesExhausted as exc:
            self._write(output_line(request.custom_id, error=(RETRYABLE_CODE, str(exc))))
            self.summary.unfinished += 1
            self.breaker.failure(str(exc))
            return
        self.breaker.success()
        row = output_line(request.custom_id, status=reply.status, request_id=reply.request_id, body=reply.body)
        if self._check_model(request, reply, row):
            return
        self._write(row)
        if reply.ok:
            self.summary.done += 1
            if isinstance(reply.body, dict):
                self.summary.add_usage(reply.body.get("usage"))
        else:
            self.summary.failed += 1

    def _check_model(self, request: BatchRequestInput, reply, row: Row) -> bool:
        """True when the line is held back: while every answer so far is model-not-found, the lines
        wait; at MODEL_MISMATCH_LINES of them (or the whole file) the run stops without them, so
        a rerun with --force-model redoes them. Any other answer writes the held lines and ends this."""
        if self.misses is None:
            return False
        if not is_model_not_found(reply):
            held, self.misses = self.misses, None
            for _, row_held in held:
                self._write(row_held)
                self.summary.failed += 1
            return False
        self.misses.append((request, row))
        todo = sum(1 for r in self.requests if r.custom_id not in self.done)
        if len(self.misses) >= min(MODEL_MISMATCH_LINES, todo):
            asked = request.body.get("model")
            raise ModelMismatch(
                f"the first {len(self.misses)} requests all failed with 404: model {asked!r} is not the one "
                f"{self.target.description} serves ({self.model!r}); rerun with --force-model to send every "
                f'request to {self.model!r}, or set "model" in the batch file'
            )
        return True

    def _write(self, row: Row) -> None:
        assert self.journal is not None and self.progress is not None
        self.journal.append(row)
        if not retryable(row):
            self.done.add(row["custom_id"])
        self.progress.advance()

    async def run(self) -> Summary:
        self.journal = Journal(self.out).open(
            self._index, drop=self._drop, ours=lambda row: isinstance(row.get("custom_id"), str)
        )
        if self.journal.dropped_lines and self.retry_errors:
            log.info("%s: %d failed requests will be redone", self.out, self.journal.dropped_lines)
        if self.journal.truncated_bytes:
            log.warning("%s: cut off a half-written last line; that request is redone", self.out)
        if self.journal.rows:
            log.info("%s: %d requests already answered; resuming", self.out, self.journal.rows)
        try:
            self.model, _ = await with_retries(self.target.model_id, self.policy, what="GET /v1/models")
            self.progress = Progress(
                len(self.requests), quiet=self.quiet, desc="run-batch", unit="req", summary=self.summary
            )
            await run_pool(self.requests, self._one, self.concurrency)
        except (TargetDown, ModelMismatch) as exc:
            self.summary.stopped = str(exc)
        except RetriesExhausted as exc:
            self.summary.stopped = f"{self.target.description}: {exc}"
        finally:
            if self.progress is not None:
                self.progress.close()
            self.journal.close()
        return self.summary


def load_output(path: str | os.PathLike) -> dict[str, Row]:
    """custom_id -> output line (for tests and scripts)."""
    rows: dict[str, Row] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            rows[row["custom_id"]] = row
    return rows
