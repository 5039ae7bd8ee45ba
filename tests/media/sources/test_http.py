"""http(s):// media through the loader: address checks on every hop, IP pinning,
redirects, byte caps, timeouts, allow-lists and per-host connection shares."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings
from tests.media_factory import media_loader, png_bytes
from tests.media_server import PUBLIC_IP, FakeDNS, NatBackend, closed_port, self_signed_cert, serve_media

PNG = png_bytes(84, 56)  # a size Reason1 (28-pixel tokens) keeps as it is


@pytest.fixture(scope="module")
def host():
    with serve_media({"/image.png": PNG, "/empty.png": b""}) as media_host:
        yield media_host


def loader(**settings) -> MediaLoader:
    return media_loader(MediaSettings(**settings))


def public_loader(extra: dict[str, list[str]] | None = None, **settings) -> tuple[MediaLoader, FakeDNS, NatBackend]:
    """A loader that sees `public.example` as a public host (really 127.0.0.1 behind a test NAT)."""
    dns = FakeDNS({"public.example": [PUBLIC_IP], "cdn.public.example": [PUBLIC_IP], **(extra or {})})
    nat = NatBackend()
    return media_loader(MediaSettings(**settings), resolver=dns, network_backend=nat), dns, nat


# ---- http(s) through the loader ------------------------------------------------------


async def test_loopback_is_refused_by_default(host):
    media = loader()
    before = len(host.requests)
    with pytest.raises(MediaError, match="loopback.*--allow-private-media-urls"):
        await media.load_image(host.url("/image.png"))
    with pytest.raises(MediaError, match="resolves to a loopback address"):
        await media.load_image(host.url("/image.png", host="localhost"))
    assert len(host.requests) == before  # refused before connecting
    await media.close()


async def test_allow_private_fetches_from_localhost(host):
    media = loader(allow_private_media_urls=True)
    before = host.count("/image.png")
    image = await media.load_image(host.url("/image.png", host="localhost"))
    assert image.size == (84, 56)
    assert host.count("/image.png") == before + 1
    await media.close()


async def test_connects_to_the_checked_ip_with_the_host_name_in_host_header(host):
    media, dns, nat = public_loader()
    image = await media.load_image(host.url("/image.png", host="public.example"))
    assert image.size == (84, 56)
    assert dns.asked == ["public.example"]
    assert nat.connects == [PUBLIC_IP]  # the IP that was checked, not a second lookup of the name
    assert host.requests[-1] == ("/image.png", f"public.example:{host.port}")
    await media.close()


async def test_redirect_to_a_private_address_is_refused_at_the_hop(host):
    media, _, nat = public_loader({"inner.example": ["10.20.30.40"]})
    for target, word in (
        (host.url("/image.png", host="inner.example"), "private address"),
        (host.url("/image.png"), "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("file:///etc/passwd", "only http and https"),
    ):
        url = host.url("/redirect?to=" + target, host="public.example")
        with pytest.raises(MediaError, match=f"redirect 1 to .* refused: .*{word}"):
            await media.load_image(url)
    assert "10.20.30.40" not in nat.connects and "127.0.0.1" not in nat.connects
    # a redirect to another public name is followed
    ok = host.url("/redirect?to=" + host.url("/image.png", host="cdn.public.example"), host="public.example")
    assert (await media.load_image(ok)).size == (84, 56)
    await media.close()


async def test_redirects_are_capped_at_five(host):
    media, _, _ = public_loader()
    assert (await media.load_image(host.url("/chain/5", host="public.example"))).size == (84, 56)
    with pytest.raises(MediaError, match="more than 5 redirects"):
        await media.load_image(host.url("/chain/6", host="public.example"))
    await media.close()


async def test_allowed_domains_restrict_fetching(host):
    media, _, _ = public_loader({"other.example": [PUBLIC_IP]}, allowed_media_domains=("public.example",))
    assert (await media.load_image(host.url("/image.png", host="cdn.public.example"))).size == (84, 56)
    with pytest.raises(MediaError, match="allowed media domains"):
        await media.load_image(host.url("/image.png", host="other.example"))
    redirect = host.url("/redirect?to=" + host.url("/image.png", host="other.example"), host="public.example")
    with pytest.raises(MediaError, match="redirect 1 .* allowed media domains"):
        await media.load_image(redirect)
    await media.close()


@pytest.mark.parametrize(
    "path,settings,word",
    [
        ("/big?mb=4", {"max_image_bytes": 1 << 20}, "larger than the 1 MiB"),
        ("/declared-big", {}, "larger than the 64 MiB"),
        ("/gzip-bomb", {"max_image_bytes": 1 << 20}, "larger than the 1 MiB"),
        ("/missing.png", {}, "HTTP 404"),
        ("/empty.png", {}, "returned no data"),
    ],
)
async def test_http_failures_are_media_errors(host, path, settings, word):
    media, _, _ = public_loader(**settings)
    with pytest.raises(MediaError, match=word):
        await media.load_image(host.url(path, host="public.example"))
    await media.close()


async def test_a_slow_host_times_out_per_modality(host):
    media, _, _ = public_loader(image_fetch_timeout=0.4, video_fetch_timeout=0.6)
    started = time.monotonic()
    with pytest.raises(MediaError, match="0.4 s"):
        await media.load_image(host.url("/slow?s=3", host="public.example"))
    with pytest.raises(MediaError, match="0.6 s"):
        await media.load_video(host.url("/slow?s=3", host="public.example"))
    assert time.monotonic() - started < 2.5
    await media.close()


async def test_slow_hosts_do_not_starve_a_fast_one():
    """Downloads hold no server-wide slot: with more slow downloads open than the old gate
    had slots (and than decode slots), an image from another host still arrives."""
    with serve_media({"/image.png": PNG}) as slow, serve_media({"/image.png": PNG}) as fast:
        media, _, _ = public_loader(
            {"slow.example": [PUBLIC_IP], "fast.example": [PUBLIC_IP]}, media_workers=1, image_fetch_timeout=300
        )
        slow_ones = [
            asyncio.ensure_future(media.load_image(slow.url(f"/hold?n={i}", host="slow.example"))) for i in range(6)
        ]
        for _ in slow_ones:  # every slow download is open at the host and waiting for it
            assert await asyncio.to_thread(slow.held.acquire, timeout=30)
        image = await asyncio.wait_for(media.load_image(fast.url("/image.png", host="fast.example")), 30)
        assert image.size == (84, 56)
        assert not any(task.done() for task in slow_ones)  # the slow ones were still downloading
        slow.release.set()
        assert [i.size for i in await asyncio.gather(*slow_ones)] == [(84, 56)] * 6
        await media.close()


async def test_one_host_gets_a_share_of_the_connections_not_all():
    with serve_media({"/image.png": PNG}) as slow:
        media, _, _ = public_loader({"slow.example": [PUBLIC_IP]}, media_workers=1, image_fetch_timeout=300)
        per_host = media.http.per_host
        slow_ones = [
            asyncio.ensure_future(media.load_image(slow.url(f"/hold?n={i}", host="slow.example")))
            for i in range(per_host + 2)
        ]
        for _ in range(per_host):
            assert await asyncio.to_thread(slow.held.acquire, timeout=30)
        assert not await asyncio.to_thread(slow.held.acquire, timeout=0.3)  # the rest wait their host's turn
        slow.release.set()
        assert len(await asyncio.gather(*slow_ones)) == per_host + 2
        await media.close()


async def test_dns_failure_and_refused_connection_are_media_errors():
    media, _, _ = public_loader(allow_private_media_urls=True)
    with pytest.raises(MediaError, match="could not resolve host 'nowhere.invalid'"):
        await media.load_image("http://nowhere.invalid/x.png")
    with pytest.raises(MediaError, match="connection refused|could not connect"):
        await media.load_image(f"http://127.0.0.1:{closed_port()}/x.png")
    await media.close()


async def test_https_keeps_sni_and_certificate_checks_on_the_pinned_ip(tmp_path):
    pair = self_signed_cert(tmp_path, "public.example")
    if pair is None:
        pytest.skip("no openssl command")
    context = ssl.create_default_context(cafile=str(pair[0]))
    with serve_media({"/image.png": PNG}, tls=pair) as tls_host:
        dns = FakeDNS({"public.example": [PUBLIC_IP], "wrong.example": [PUBLIC_IP]})
        media = media_loader(MediaSettings(), resolver=dns, network_backend=NatBackend(), ssl_context=context)
        image = await media.load_image(tls_host.url("/image.png", host="public.example"))
        assert image.size == (84, 56)
        assert tls_host.sni == ["public.example"]
        assert tls_host.requests[-1] == ("/image.png", f"public.example:{tls_host.port}")
        # the certificate is checked against the URL's name, not the IP we connected to
        with pytest.raises(MediaError, match="could not fetch from 'wrong.example'"):
            await media.load_image(tls_host.url("/image.png", host="wrong.example"))
        await media.close()


async def test_close_releases_the_client_and_workers(host):
    media = loader(allow_private_media_urls=True)
    await media.load_image(host.url("/image.png"))
    assert media.http._client is not None and media.pool._executor is not None
    await media.close()
    assert media.http._client is None and media.pool._executor is None
