"""Video containers: only the allowlisted ones open, and nothing inside them reaches other files.

The forbidden payloads are the ones FFmpeg would follow out of the buffer if it chose the
demuxer itself: scripts and playlists naming files next to the server's working directory.
"""

from __future__ import annotations

import pytest

import cosmos_reason.media.container as container_module
from cosmos_reason.media.container import ALLOWED_CONTAINERS, sniff_container
from cosmos_reason.media.errors import MediaError
from tests.media_factory import load_video, make_video, mp4_bytes, png_bytes, reason1_video

SDP = (
    b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=leak\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)
HLS = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nsecret.ts\n#EXT-X-ENDLIST\n"
DASH = (
    b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
    b'mediaPresentationDuration="PT2S" minBufferTime="PT1S" '
    b'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="video/mp4">'
    b'<Representation id="1" bandwidth="1000" width="64" height="48" codecs="avc1.64000a">'
    b"<BaseURL>secret.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
)

#: name -> payload: each names (or is) something other than the bytes sent.
FORBIDDEN = {
    "ffconcat": b"ffconcat version 1.0\nfile secret.mp4\n",
    "ffconcat-text-as-tty": b"ffconcat version 1.0\nfile secret.txt\n",
    "image2-pattern": b"ffconcat version 1.0\nfile 'secret%03d.png'\n",
    "subfile": b"ffconcat version 1.0\nfile 'subfile,,start,0,end,0,,:secret.mp4'\n",
    "hls": HLS,
    "dash": DASH,
    "sdp": SDP,
    "tty-plain-text": b"Dear diary, today the server read my files.\n" * 40,
}


@pytest.fixture
def secrets_nearby(tmp_path, monkeypatch):
    """Files a payload could name, in the working directory (where FFmpeg resolves relative names)."""
    import av

    (tmp_path / "secret.mp4").write_bytes(mp4_bytes(seconds=1.0, fps=8))
    (tmp_path / "secret.txt").write_text("the launch code is 0000\n" * 20)
    for i in range(3):
        (tmp_path / f"secret{i:03d}.png").write_bytes(png_bytes(32, 32, seed=i))
    with av.open(str(tmp_path / "secret.ts"), mode="w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(8):
            for packet in stream.encode(av.VideoFrame(32, 32, "yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", FORBIDDEN)
def test_forbidden_containers_never_reach_ffmpeg(name, secrets_nearby, monkeypatch):
    opened = []
    real_open = container_module.av.open
    monkeypatch.setattr(container_module.av, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    with pytest.raises(MediaError, match="not a recognized video format; the containers accepted are MP4"):
        load_video(FORBIDDEN[name], reason1_video())
    assert opened == []  # refused from the magic bytes: FFmpeg never parsed the payload


def test_the_ffconcat_payload_really_reads_the_local_file_when_ffmpeg_probes(secrets_nearby):
    """The control: this is the leak the allowlist closes (FFmpeg left to pick the demuxer)."""
    import io

    import av

    with av.open(io.BytesIO(FORBIDDEN["ffconcat"]), mode="r") as probed:
        assert probed.format.name == "concat"
        assert len([p for p in probed.demux(video=0) if p.size]) == 8


@pytest.mark.parametrize(
    ("fmt", "codec", "demuxer"),
    [
        ("mp4", "libx264", "mov"),
        ("mov", "libx264", "mov"),
        ("matroska", "libx264", "matroska"),
        ("webm", "libvpx-vp9", "matroska"),
        ("avi", "mpeg4", "avi"),
        ("mpegts", "libx264", "mpegts"),
        ("mpeg", "mpeg2video", "mpeg"),
        ("flv", "libx264", "flv"),
        ("asf", "wmv2", "asf"),
        ("mxf", "mpeg2video", "mxf"),
        ("yuv4mpegpipe", "rawvideo", "yuv4mpegpipe"),
        ("mpeg2video", "mpeg2video", "mpegvideo"),
        ("h264", "libx264", "h264"),
        ("hevc", "libx265", "hevc"),
    ],
)
def test_allowed_containers_are_recognised_and_decode(fmt, codec, demuxer):
    options = {
        "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
        "libx265": {"x265-params": "log-level=none"},
    }.get(codec, {})
    data = make_video(64, 48, 25, 1.2, codec=codec, fmt=fmt, codec_options=options)
    assert sniff_container(data) == demuxer
    assert demuxer in ALLOWED_CONTAINERS
    assert load_video(data, reason1_video()).num_frames == 4


def test_an_animated_gif_is_a_video():
    import io

    from PIL import Image

    frames = [Image.new("RGB", (40, 30), (i * 40, 0, 0)) for i in range(6)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert sniff_container(buffer.getvalue()) == "gif"
    assert load_video(buffer.getvalue(), reason1_video()).num_frames == 4


def test_an_image_is_not_a_video_container():
    with pytest.raises(MediaError, match="not a recognized video format"):
        load_video(png_bytes(32, 32), reason1_video())


def test_even_a_demuxer_that_opens_files_could_not_reach_them(secrets_nearby, monkeypatch):
    """The second wall, should the magic-byte check ever pick a demuxer that opens other
    files: no protocol (file, http, udp...) and no other format may be opened from inside."""
    monkeypatch.setattr(container_module, "sniff_container", lambda data: "concat")
    monkeypatch.setitem(ALLOWED_CONTAINERS, "concat", "ffconcat (for this test only)")
    with pytest.raises(MediaError, match="not a recognized video format"):
        load_video(FORBIDDEN["ffconcat"], reason1_video())
