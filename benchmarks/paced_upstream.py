"""A paced stand-in for a GPU inference server, for benchmarks/upstream.py.

It speaks the OpenAI streaming chat API as vLLM does (`owned_by: vllm` in /v1/models) and
answers every request on a fixed clock, whatever else it is serving: the first token
--ttft-ms after the request arrived, then one every --itl-ms, `max_tokens` in all, then
the usage chunk and [DONE]. A GPU server's work happens on the device; this one's costs
almost no CPU, so that what a front adds shows on its own, without the noise of a CPU
model's batching.

Run: python benchmarks/paced_upstream.py --port 8001 [--ttft-ms 20] [--itl-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web


def make_app(ttft_s: float, itl_s: float) -> web.Application:
    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "paced", "object": "model", "owned_by": "vllm"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        tokens = int(body.get("max_tokens") or 16)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        head = {
            "id": "chatcmpl-paced",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "paced",
        }

        async def event(payload: dict) -> None:
            await response.write(f"data: {json.dumps({**head, **payload})}\n\n".encode())

        await event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for i in range(tokens):
            await asyncio.sleep(max(0.0, arrived + ttft_s + i * itl_s - time.monotonic()))
            finish = "length" if i == tokens - 1 else None
            await event({"choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": finish}]})
        await event(
            {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}}
        )
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", lambda _: web.json_response({"status": "ok"}))
    app.router.add_post("/v1/chat/completions", chat)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=10.0)
    args = parser.parse_args()
    web.run_app(make_app(args.ttft_ms / 1e3, args.itl_ms / 1e3), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
