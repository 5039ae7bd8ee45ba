from __future__ import annotations

import pytest

from cosmos_reason.server.auth import APIKeyMiddleware, presented_key


@pytest.mark.parametrize(
    "headers,expected",
    [
        ([(b"authorization", b"Bearer k1")], "k1"),
        ([(b"Authorization", b"bEaReR   k1 ")], "k1"),
        ([(b"authorization", b"k1")], "k1"),
        ([(b"x-api-key", b"k1")], "k1"),
        ([], None),
        ([(b"authorization", b"")], None),
    ],
)
def test_presented_key(headers, expected):
    assert presented_key(headers) == expected


def test_key_check_matches_only_configured_keys():
    middleware = APIKeyMiddleware(app=None, keys=("alpha", "beta"))
    assert middleware.is_valid("alpha") and middleware.is_valid("beta")
    assert not middleware.is_valid("alph") and not middleware.is_valid(None)
    assert b"alpha" not in b"".join(middleware.digests)  # only digests are kept
