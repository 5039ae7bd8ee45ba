"""http(s):// and file:// media sources: address checks on every hop, IP pinning,
redirects, byte caps, timeouts, allow-lists and file roots."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import time

import httpx
import pytest

from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.fetch import (
    AddressPolicy,
    FetchRefused,
    GuardedBackend,
    LocalFiles,
    address_problem,
    guarded_client,
)
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings, normalize_domain, parse_bytes
from tests.media_factory import png_bytes
from tests.media_server import PUBLIC_IP, FakeDNS, NatBackend, closed_port, self_signed_cert, serve_media

PNG = png_bytes(40, 30)


@pytest.fixture(scope="module")
def host():
    with serve_media({"/image.png": PNG, "/empty.png": b""}) as media_host:
        yield media_host


def loader(**settings) -> MediaLoader:
    return MediaLoader(MediaSettings(**settings))


def public_loader(extra: dict[str, list[str]] | None = None, **settings) -> tuple[MediaLoader, FakeDNS, NatBackend]:
    """A loader that sees `public.example` as a public host (really 127.0.0.1 behind a test NAT)."""
    dns = FakeDNS({"public.example": [PUBLIC_IP], "cdn.public.example": [PUBLIC_IP], **(extra or {})})
    nat = NatBackend()
    return MediaLoader(MediaSettings(**settings), resolver=dns, network_backend=nat), dns, nat


# ---- the address check ---------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("169.254.10.10", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"),
]


@pytest.mark.parametrize("address,word", REFUSED)
def test_non_public_addresses_are_refused(address, word):
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and word in problem


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_all_but_metadata():
    assert address_problem(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert "metadata" in address_problem(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert "metadata" in address_problem(ipaddress.ip_address("fd00:ec2::254"), allow_private=True)


@pytest.mark.parametrize("url,word", [
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://METADATA.google.internal./x", "metadata"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/latest/", "metadata"),
    ("ftp://public.example/x.png", "only http and https"),
])
def test_url_checks_before_any_connection(url, word):
    for policy in (AddressPolicy(), AddressPolicy(allow_private=True)):
        with pytest.raises(FetchRefused, match=word):
            policy.check_url(httpx.URL(url))


def test_domain_allow_list_matches_exact_and_subdomains():
    policy = AddressPolicy(allowed_domains=(normalize_domain("Public.Example"), normalize_domain("*.media.org")))
    for ok in ("http://public.example/a", "https://cdn.public.example/a", "http://x.y.media.org/a",
               "http://media.org/a", "http://PUBLIC.EXAMPLE./a"):
        policy.check_url(httpx.URL(ok))
    for bad in ("http://public.example.evil.com/a", "http://notpublic.example/a", "http://example/a",
                "http://93.184.216.34/a"):
        with pytest.raises(FetchRefused, match="allowed media domains"):
            policy.check_url(httpx.URL(bad))


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
        ipaddress.ip_address(PUBLIC_IP)]


# ---- http(s) through the loader --------------------------------------------------------


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
    assert image.size == (40, 30)
    assert host.count("/image.png") == before + 1
    await media.close()


async def test_connects_to_the_checked_ip_with_the_host_name_in_host_header(host):
    media, dns, nat = public_loader()
    image = await media.load_image(host.url("/image.png", host="public.example"))
    assert image.size == (40, 30)
    assert dns.asked == ["public.example"]
    assert nat.connects == [PUBLIC_IP]  # the IP that was checked, not a second lookup of the name
    assert host.requests[-1] == ("/image.png", f"public.example:{host.port}")
    await media.close()


async def test_redirect_to_a_private_address_is_refused_at_the_hop(host):
    media, _, nat = public_loader({"inner.example": ["10.20.30.40"]})
    for target, word in ((host.url("/image.png", host="inner.example"), "private address"),
                         (host.url("/image.png"), "loopback"),
                         ("http://169.254.169.254/latest/meta-data/", "metadata"),
                         ("file:///etc/passwd", "only http and https")):
        url = host.url("/redirect?to=" + target, host="public.example")
        with pytest.raises(MediaError, match=f"redirect 1 to .* refused: .*{word}"):
            await media.load_image(url)
    assert "10.20.30.40" not in nat.connects and "127.0.0.1" not in nat.connects
    # a redirect to another public name is followed
    ok = host.url("/redirect?to=" + host.url("/image.png", host="cdn.public.example"), host="public.example")
    assert (await media.load_image(ok)).size == (40, 30)
    await media.close()


async def test_redirects_are_capped_at_five(host):
    media, _, _ = public_loader()
    assert (await media.load_image(host.url("/chain/5", host="public.example"))).size == (40, 30)
    with pytest.raises(MediaError, match="more than 5 redirects"):
        await media.load_image(host.url("/chain/6", host="public.example"))
    await media.close()


async def test_allowed_domains_restrict_fetching(host):
    media, _, _ = public_loader({"other.example": [PUBLIC_IP]}, allowed_media_domains=("public.example",))
    assert (await media.load_image(host.url("/image.png", host="cdn.public.example"))).size == (40, 30)
    with pytest.raises(MediaError, match="allowed media domains"):
        await media.load_image(host.url("/image.png", host="other.example"))
    redirect = host.url("/redirect?to=" + host.url("/image.png", host="other.example"), host="public.example")
    with pytest.raises(MediaError, match="redirect 1 .* allowed media domains"):
        await media.load_image(redirect)
    await media.close()


@pytest.mark.parametrize("path,settings,word", [
    ("/big?mb=4", {"max_image_bytes": 1 << 20}, "larger than the 1 MiB"),
    ("/declared-big", {}, "larger than the 64 MiB"),
    ("/gzip-bomb", {"max_image_bytes": 1 << 20}, "larger than the 1 MiB"),
    ("/missing.png", {}, "HTTP 404"),
    ("/empty.png", {}, "returned no data"),
])
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
        media, _, _ = public_loader({"slow.example": [PUBLIC_IP], "fast.example": [PUBLIC_IP]}, media_workers=1,
                                    image_fetch_timeout=300)
        slow_ones = [asyncio.ensure_future(media.load_image(slow.url(f"/hold?n={i}", host="slow.example")))
                     for i in range(6)]
        for _ in slow_ones:  # every slow download is open at the host and waiting for it
            assert await asyncio.to_thread(slow.held.acquire, timeout=30)
        image = await asyncio.wait_for(media.load_image(fast.url("/image.png", host="fast.example")), 30)
        assert image.size == (40, 30)
        assert not any(task.done() for task in slow_ones)  # the slow ones were still downloading
        slow.release.set()
        assert [i.size for i in await asyncio.gather(*slow_ones)] == [(40, 30)] * 6
        await media.close()


async def test_one_host_gets_a_share_of_the_connections_not_all():
    with serve_media({"/image.png": PNG}) as slow:
        media, _, _ = public_loader({"slow.example": [PUBLIC_IP]}, media_workers=1, image_fetch_timeout=300)
        per_host = media.http.per_host
        slow_ones = [asyncio.ensure_future(media.load_image(slow.url(f"/hold?n={i}", host="slow.example")))
                     for i in range(per_host + 2)]
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
        media = MediaLoader(MediaSettings(), resolver=dns, network_backend=NatBackend(), ssl_context=context)
        image = await media.load_image(tls_host.url("/image.png", host="public.example"))
        assert image.size == (40, 30)
        assert tls_host.sni == ["public.example"]
        assert tls_host.requests[-1] == ("/image.png", f"public.example:{tls_host.port}")
        # the certificate is checked against the URL's name, not the IP we connected to
        with pytest.raises(MediaError, match="could not fetch from 'wrong.example'"):
            await media.load_image(tls_host.url("/image.png", host="wrong.example"))
        await media.close()


async def test_close_releases_the_client_and_workers(host):
    media = loader(allow_private_media_urls=True)
    await media.load_image(host.url("/image.png"))
    assert media.http._client is not None and media._executor is not None
    await media.close()
    assert media.http._client is None and media._executor is None


# ---- file:// ----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "a b.png").write_bytes(PNG)
    (root / "sub" / "empty.png").write_bytes(b"")
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    (root / "escape.png").symlink_to(secret)
    (root / "inside-link.png").symlink_to(root / "a b.png")
    (root / "sub-link").symlink_to(tmp_path)
    return root


async def test_file_urls_are_refused_without_a_root(tree):
    with pytest.raises(FetchRefused, match="--allowed-local-media-path"):
        await loader().load_image(f"file://{tree}/a%20b.png")


async def test_file_urls_under_a_root_load(tree):
    media = loader(allowed_local_media_paths=(str(tree),))
    assert (await media.load_image(f"file://{tree}/a%20b.png")).size == (40, 30)
    assert (await media.load_image(f"file://localhost{tree}/inside-link.png")).size == (40, 30)
    assert (await media.load_image(f"file://{tree}/sub/../a%20b.png")).size == (40, 30)


@pytest.mark.parametrize("tail,word", [
    ("/escape.png", "outside the folders"),  # a symlink inside the root pointing out of it
    ("/sub/../../secret.png", "outside the folders"),  # '..' out of the root
    ("/sub-link/secret.png", "outside the folders"),  # a symlinked folder out of the root
    ("/sub/empty.png", "empty"),
    ("/nothing.png", "no such file"),
    ("/sub", "folder"),
])
async def test_file_url_refusals(tree, tail, word):
    media = loader(allowed_local_media_paths=(str(tree),), max_image_bytes=1 << 20)
    with pytest.raises(MediaError, match=word):
        await media.load_image(f"file://{tree}{tail}")


async def test_file_url_limits(tree):
    with pytest.raises(MediaError, match="larger than"):
        await loader(allowed_local_media_paths=(str(tree),), max_image_bytes=100).load_image(f"file://{tree}/a%20b.png")
    with pytest.raises(FetchRefused, match="local file"):
        await loader(allowed_local_media_paths=(str(tree),)).load_image(f"file://otherhost{tree}/a%20b.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
async def test_a_fifo_is_refused_without_hanging(tree):
    os.mkfifo(tree / "pipe.png")
    with pytest.raises(MediaError, match="not a regular file"):
        await loader(allowed_local_media_paths=(str(tree),)).load_image(f"file://{tree}/pipe.png")


def test_a_folder_swapped_for_a_symlink_after_the_check_is_not_followed(tmp_path):
    """The file:// race: the URL is checked while album/ is a real folder inside the root,
    then album/ becomes a symlink to the outside before the file is opened."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "album").mkdir(parents=True)
    (outside / "album").mkdir(parents=True)
    (root / "album" / "photo.png").write_bytes(PNG)
    (outside / "album" / "photo.png").write_bytes(b"the outside secret")
    files = LocalFiles([str(root)])
    path = files.path(f"file://{root}/album/photo.png")
    assert files.read(path, 1 << 20) == PNG
    (root / "album").rename(tmp_path / "moved-away")
    (root / "album").symlink_to(outside / "album", target_is_directory=True)
    with pytest.raises(FetchRefused, match="outside the folders"):
        files.read(path, 1 << 20)


def test_symlinks_that_stay_inside_the_root_are_followed(tree):
    (tree / "sub" / "pic.png").write_bytes(PNG)
    (tree / "sub-inside").symlink_to(tree / "sub", target_is_directory=True)
    (tree / "sub" / "up.png").symlink_to("../a b.png")
    files = LocalFiles([str(tree)])
    for tail in ("/sub-inside/pic.png", "/sub/up.png", "/sub-inside/up.png", "/inside-link.png"):
        assert files.read(files.path(f"file://{tree}{tail}"), 1 << 20) == PNG


def test_local_files_check_does_not_touch_files_outside(tmp_path):
    files = LocalFiles([str(tmp_path)])
    with pytest.raises(FetchRefused, match="outside"):
        files.path("file:///etc/shadow")


# ---- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [("1024", 1024), ("64MiB", 64 << 20), ("64M", 64 << 20), ("64MB", 64_000_000),
                                        ("1GiB", 1 << 30), ("1.5k", 1536), ("0", 0)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


def test_media_settings_validate(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        MediaSettings(allowed_local_media_paths=(str(tmp_path / "missing"),))
    with pytest.raises(ValueError, match="media_workers"):
        MediaSettings(media_workers=0)
    with pytest.raises(ValueError, match="host name"):
        MediaSettings(allowed_media_domains=("http://x.org/",))
    assert MediaSettings(allowed_media_domains=("*.Bücher.de",)).allowed_media_domains == ("xn--bcher-kva.de",)


def test_serve_flags_fill_media_settings(tmp_path):
    from cosmos_reason.server.flags import settings_from_args
    from cosmos_reason.cli import build_parser
    from cosmos_reason.media.video import VideoOptions

    args = build_parser().parse_args([
        "serve", "--model", "/ckpt", "--allowed-local-media-path", str(tmp_path), "--allowed-local-media-path", "/",
        "--allowed-media-domains", "Example.com", "--allow-private-media-urls", "--max-media-per-request", "4",
        "--max-request-bytes", "128MiB", "--media-workers", "3", "--media-cache-bytes", "0",
        "--video-fps", "2", "--video-total-pixels", "1000000", "--video-max-pixels", "200000",
        "--video-min-pixels", "5000", "--video-max-frames", "64", "--image-min-pixels", "4000",
        "--image-max-pixels", "500000", "--image-fetch-timeout", "3", "--video-fetch-timeout", "30",
        "--max-image-bytes", "1MiB", "--max-video-bytes", "2GiB",
    ])
    media = settings_from_args(args).media
    assert media.allowed_local_media_paths == (str(tmp_path), "/")
    assert media.allowed_media_domains == ("example.com",) and media.allow_private_media_urls
    assert (media.max_media_per_request, media.max_request_bytes, media.media_workers, media.media_cache_bytes) == (
        4, 128 << 20, 3, 0)
    assert media.video == VideoOptions(fps=2.0, total_pixels=1_000_000, max_pixels=200_000, min_pixels=5000,
                                       max_frames=64)
    assert (media.image_min_pixels, media.image_max_pixels) == (4000, 500_000)
    assert (media.image_fetch_timeout, media.video_fetch_timeout, media.max_image_bytes, media.max_video_bytes) == (
        3.0, 30.0, 1 << 20, 2 << 30)
    defaults = settings_from_args(build_parser().parse_args(["serve", "--model", "/ckpt"])).media
    assert defaults == MediaSettings()
