"""Sends N chat completions that share a long system prompt through one
OpenAI SDK client (one kept-alive connection). Prints one JSON line with the
completion tokens the SDK read.

Usage: chat_burst.py BASE_URL MODEL N
"""

import json
import sys

from openai import OpenAI


def main() -> None:
    base_url, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    system = "You are the support assistant of a large retailer. Answer briefly and politely. " * 20
    tokens = 0
    for i in range(n):
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": f"Question number {i}?"}],
            max_tokens=4,
            extra_body={"ignore_eos": True},
        )
        tokens += reply.usage.completion_tokens
    print(json.dumps({"requests": n, "completion_tokens": tokens}))


if __name__ == "__main__":
    main()
