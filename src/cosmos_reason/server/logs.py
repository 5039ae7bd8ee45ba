"""Log set-up of a serving process (cli.py's `serve` and each `--workers` worker): every line
carries the id of the request it is about (x-request-id), uvicorn's lines and its access log too."""

from __future__ import annotations

import copy
import logging

from .middleware import RequestIdLogFilter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
ACCESS_FORMAT = (
    '%(asctime)s %(levelname)s access [%(request_id)s]: %(client_addr)s - "%(request_line)s" %(status_code)s'
)


def setup_logging(level: str) -> None:
    """Every line carries the id of the request it is about (x-request-id), "-" outside requests."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdLogFilter())
    # httpx logs every media URL it fetches, query string (often a signature) included.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def uvicorn_log_config() -> dict:
    """uvicorn's own logging configuration, with the request id on its lines and the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"request_id": {"()": "cosmos_reason.server.middleware.RequestIdLogFilter"}}
    config["formatters"]["default"]["fmt"] = LOG_FORMAT
    config["formatters"]["access"]["fmt"] = ACCESS_FORMAT
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    return config
