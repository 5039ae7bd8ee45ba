"""Where `serve` listens: every interface with an API key, this machine only without one,
unless --host says otherwise."""

from __future__ import annotations

import pytest

from cosmos_reason.cli import build_parser, server_url
from cosmos_reason.server.flags import settings_from_args
from cosmos_reason.settings import API_KEY_ENV, Settings


def settings_for(*argv: str):
    return settings_from_args(build_parser().parse_args(["serve", *argv]))


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)


def test_without_a_key_the_server_listens_on_loopback_only():
    assert settings_for().host == "127.0.0.1"
    assert Settings().host == "127.0.0.1"


def test_with_a_key_it_listens_on_every_interface(monkeypatch):
    assert settings_for("--api-key", "k").host == "0.0.0.0"
    monkeypatch.setenv(API_KEY_ENV, "k")
    assert settings_for().host == "0.0.0.0"


def test_an_explicit_host_always_wins():
    assert settings_for("--host", "0.0.0.0").host == "0.0.0.0"
    assert settings_for("--host", "127.0.0.1", "--api-key", "k").host == "127.0.0.1"


@pytest.mark.parametrize(
    "host, url",
    [
        ("0.0.0.0", "http://localhost:8000"),
        ("::", "http://localhost:8000"),
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_the_url_in_the_startup_log_is_one_a_browser_opens(host, url):
    assert server_url(host, 8000) == url
