"""The guarded client: every connection resolves the name and checks every address first."""

from __future__ import annotations

import ipaddress

import pytest

from cosmos_reason.media.errors import FetchRefused
from cosmos_reason.media.sources import AddressPolicy, GuardedBackend, guarded_client
from tests.media_server import PUBLIC_IP, FakeDNS


def test_the_guarded_backend_is_the_client_s_network_backend():
    # guarded_client swaps httpx's pool for one with our backend; catch an httpx change that undoes it.
    client = guarded_client(AddressPolicy())
    backend = client._transport._pool._network_backend
    assert isinstance(backend, GuardedBackend)


async def test_a_name_with_any_private_address_is_refused():
    backend = GuardedBackend(AddressPolicy(), FakeDNS({"mixed.example": [PUBLIC_IP, "10.0.0.7"]}))
    with pytest.raises(FetchRefused, match="private address"):
        await backend.resolve("mixed.example", 80)
    assert await GuardedBackend(AddressPolicy(), FakeDNS({"ok.example": [PUBLIC_IP]})).resolve("ok.example", 80) == [
        ipaddress.ip_address(PUBLIC_IP)
    ]
