"""Talks to kvlb-proxy's egress with the official OpenAI SDK: for one model,
a plain chat (with a prompt-cache marker), a streamed chat with usage, a
tool call and its result sent back, and a streamed tool call. Prints one
JSON line with what the SDK parsed; exits non-zero (with a traceback) if the
SDK rejects anything.

Usage: egress_sdk.py BASE_URL MODEL
"""

import json
import sys

from openai import OpenAI

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def main() -> None:
    base_url, model = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=base_url, api_key="client-key-not-for-providers", max_retries=0, timeout=30)
    system = {"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    plain = client.chat.completions.create(model=model, messages=[system, {"role": "user", "content": "hello"}])
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream please"}], max_tokens=64, stream=True,
        stream_options={"include_usage": True},
    )
    chunks, text, usage, finish = 0, "", None, None
    for chunk in stream:
        chunks += 1
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    call = client.chat.completions.create(model=model, messages=ask, tools=TOOLS, tool_choice="required")
    tool_call = call.choices[0].message.tool_calls[0]
    answer = client.chat.completions.create(model=model, tools=TOOLS, messages=ask + [
        {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": "18C and sunny"},
    ])
    streamed_args, streamed_name = "", None
    for chunk in client.chat.completions.create(model=model, messages=ask, tools=TOOLS, stream=True):
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                streamed_name = tc.function.name or streamed_name
                streamed_args += tc.function.arguments or ""
    print(json.dumps({
        "plain_text": plain.choices[0].message.content,
        "plain_prompt_tokens": plain.usage.prompt_tokens,
        "plain_cached_tokens": plain.usage.prompt_tokens_details.cached_tokens if plain.usage.prompt_tokens_details else None,
        "stream_chunks": chunks,
        "stream_text": text,
        "stream_finish": finish,
        "stream_completion_tokens": usage.completion_tokens if usage else None,
        "tool_finish": call.choices[0].finish_reason,
        "tool_name": tool_call.function.name,
        "tool_arguments": json.loads(tool_call.function.arguments),
        "after_tool_text": answer.choices[0].message.content,
        "streamed_tool_name": streamed_name,
        "streamed_tool_arguments": json.loads(streamed_args),
    }))


if __name__ == "__main__":
    main()
