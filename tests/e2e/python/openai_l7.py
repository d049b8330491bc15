"""Talks to a pool VIP in l7 mode with the official OpenAI SDK: one plain and
one streamed chat completion. Prints one JSON line with what the SDK parsed;
exits non-zero (with a traceback) if the SDK rejects anything.

Usage: openai_l7.py BASE_URL MODEL
"""

import json
import sys

from openai import OpenAI


def main() -> None:
    base_url, model = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "What does a load balancer do?"}]
    plain = client.chat.completions.create(model=model, messages=messages, max_tokens=8, extra_body={"ignore_eos": True})
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks, text, usage = 0, "", None
    for chunk in stream:
        chunks += 1
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    print(
        json.dumps(
            {
                "plain_text": plain.choices[0].message.content,
                "plain_completion_tokens": plain.usage.completion_tokens,
                "stream_chunks": chunks,
                "stream_text": text,
                "stream_completion_tokens": usage.completion_tokens if usage else None,
            }
        )
    )


if __name__ == "__main__":
    main()
