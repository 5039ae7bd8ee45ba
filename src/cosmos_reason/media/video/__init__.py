"""Video decoding: bytes in, the sampled and resized frames the Qwen2.5-VL processor wants out.

The frames and their indices are exactly those of the reference path, qwen-vl-utils'
`fetch_video` with its decord reader, and the pixels within one rounding step (see
media/resize.py): frame count = the stream's packets,
frame rate = the stream's average rate, `video_start`/`video_end` clipping, smart_nframes,
rounded float32 linspace indices, torchvision's bicubic antialiased resize. But:

* the input is an in-memory buffer (no temporary file), decoded with PyAV, in an
  allowlisted container opened with no access to anything else (media/container.py);
* every picture that a kept picture depends on is decoded; H.264 pictures nothing refers
  to (nal_ref_idc 0) are skipped unless kept, and decoding stops after the last kept one;
* only the kept frames are converted to RGB and resized, one at a time on a helper thread
  while the decoder goes on, so memory holds the compressed packets (about the input's
  size) plus the kept, already-resized frames: never the whole video.

The steps, one module each: demux.py (header, packets), selection.py (which frames),
decode.py (decoding), frames.py (RGB, rotation, resize), load.py (`load_video`, which
runs them). `load_video` is synchronous and CPU-bound; the server calls it in a worker
pool. Options and limits: docs/media.md.
"""

from .load import DecodedVideo, load_video

__all__ = ["DecodedVideo", "load_video"]
