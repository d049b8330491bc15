"""Streams a chat completion from kvlb-sim with the official OpenAI SDK.

Usage: openai_stream.py BASE_URL MODEL
Prints one JSON line: the streamed text, chunk count and usage as the SDK
parsed them. Exits non-zero (with a traceback) if the SDK rejects anything.
"""

import json
import sys

from openai import OpenAI


def main() -> None:
    base_url, model = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say something about load balancing."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    text, chunks, usage, finish = "", 0, None, None
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert usage is not None, "no usage chunk"
    print(
        json.dumps(
            {
                "text": text,
                "chunks": chunks,
                "finish_reason": finish,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cached_tokens": usage.prompt_tokens_details.cached_tokens,
            }
        )
    )


if __name__ == "__main__":
    main()
