"""Engine name -> factory, imported lazily so optional backends cost nothing until chosen."""

from __future__ import annotations

from importlib import import_module

from ..settings import Settings
from .base import Engine

ENGINES = {
    "hf": "cosmos_reason.engine.hf.engine:create_hf_engine",
    "upstream": "cosmos_reason.engine.upstream.engine:create_upstream_engine",
}


def create_engine(settings: Settings) -> Engine:
    target = ENGINES.get(settings.engine)
    if target is None:
        raise ValueError(f"unknown engine {settings.engine!r}; choose one of {', '.join(ENGINES)}")
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)(settings)
