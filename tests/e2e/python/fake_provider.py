"""A fake external provider for kvlb's egress tests, listening on a loopback
address. It validates every request strictly against the provider's
documented schema (pydantic models that forbid unknown fields; the
credential and version headers), records it, and answers like the real API:
JSON replies or SSE streams with usage, tool calls when tools are offered.
Tests queue unusual answers (errors, redirects, cut or malformed streams)
with POST /_script and read what was received with GET /_requests.

Usage: fake_provider.py anthropic|openai HOST KEY
Prints {"url": "http://HOST:PORT"} once listening.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Anthropic Messages API (POST /v1/messages), request side.
class CacheControl(Strict):
    type: Literal["ephemeral"]
    ttl: Optional[Literal["5m", "1h"]] = None


class TextBlock(Strict):
    type: Literal["text"]
    text: Annotated[str, Field(min_length=1)]
    cache_control: Optional[CacheControl] = None


class Base64Source(Strict):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str


class UrlSource(Strict):
    type: Literal["url"]
    url: str


class ImageBlock(Strict):
    type: Literal["image"]
    source: Annotated[Union[Base64Source, UrlSource], Field(discriminator="type")]
    cache_control: Optional[CacheControl] = None


class ToolUseBlock(Strict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: Optional[CacheControl] = None


class ToolResultBlock(Strict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: Union[str, list[Annotated[Union[TextBlock, ImageBlock], Field(discriminator="type")]]]
    is_error: Optional[bool] = None
    cache_control: Optional[CacheControl] = None


Block = Annotated[Union[TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock], Field(discriminator="type")]


class Message(Strict):
    role: Literal["user", "assistant"]
    content: Union[Annotated[str, Field(min_length=1)], Annotated[list[Block], Field(min_length=1)]]


class Tool(Strict):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")]
    description: Optional[str] = None
    input_schema: dict[str, Any]
    cache_control: Optional[CacheControl] = None


class ToolChoiceAuto(Strict):
    type: Literal["auto"]
    disable_parallel_tool_use: Optional[bool] = None


class ToolChoiceAny(Strict):
    type: Literal["any"]
    disable_parallel_tool_use: Optional[bool] = None


class ToolChoiceTool(Strict):
    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: Optional[bool] = None


class ToolChoiceNone(Strict):
    type: Literal["none"]


class Metadata(Strict):
    user_id: Optional[str] = None


class MessagesRequest(Strict):
    model: str
    max_tokens: Annotated[int, Field(ge=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    system: Optional[Union[str, list[TextBlock]]] = None
    stop_sequences: Optional[list[str]] = None
    stream: Optional[bool] = None
    temperature: Optional[Annotated[float, Field(ge=0, le=1)]] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    tools: Optional[list[Tool]] = None
    tool_choice: Optional[
        Annotated[Union[ToolChoiceAuto, ToolChoiceAny, ToolChoiceTool, ToolChoiceNone], Field(discriminator="type")]
    ] = None
    metadata: Optional[Metadata] = None


def anthropic_problems(body: dict) -> list[str]:
    """Schema errors, plus the API's rules about where tool blocks go."""
    try:
        req = MessagesRequest.model_validate(body)
    except ValidationError as e:
        return [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
    problems = []
    for i, m in enumerate(req.messages):
        blocks = m.content if isinstance(m.content, list) else []
        kinds = [b.type for b in blocks]
        if m.role == "assistant" and "tool_result" in kinds:
            problems.append(f"messages.{i}: tool_result blocks belong in user turns")
        if m.role == "user" and "tool_use" in kinds:
            problems.append(f"messages.{i}: tool_use blocks belong in assistant turns")
        if "tool_result" in kinds and kinds[: kinds.count("tool_result")] != ["tool_result"] * kinds.count("tool_result"):
            problems.append(f"messages.{i}: tool_result blocks must come first")
        uses = [b.id for b in blocks if b.type == "tool_use"]
        if uses:
            following = req.messages[i + 1].content if i + 1 < len(req.messages) else []
            answered = {b.tool_use_id for b in following if not isinstance(following, str) and b.type == "tool_result"}
            if i + 1 < len(req.messages) and not set(uses) <= answered:
                problems.append(f"messages.{i + 1}: tool_use ids {uses} need tool_result blocks right after")
    return problems


OPENAI_CHAT_PARAMS = {
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs",
    "top_p", "user", "verbosity", "web_search_options",
}


def openai_problems(body: dict) -> list[str]:
    problems = [f"Unrecognized request argument supplied: {k}" for k in body if k not in OPENAI_CHAT_PARAMS]
    if not isinstance(body.get("model"), str):
        problems.append("model: required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages: required")
    else:
        for i, m in enumerate(messages):
            if m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                problems.append(f"messages.{i}.role: invalid")
    if body.get("stream") and not (body.get("stream_options") or {}).get("include_usage"):
        problems.append("stream_options.include_usage: kvlb must ask for streaming usage")
    return problems


def last_user_text(messages: list) -> str:
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        for part in content or []:
            if part.get("type") == "text":
                return part["text"]
    return ""


def wants_tool(body: dict) -> Optional[dict]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if not tools or choice in ("none", {"type": "none"}):
        return None
    last = body["messages"][-1]
    content = last.get("content")
    if last.get("role") == "tool" or (isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)):
        return None
    return tools[0]


def has_cache_control(value) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(has_cache_control(v) for v in value)
    return False


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def anthropic_answer(body: dict):
    tool = wants_tool(body)
    cached = has_cache_control(body)
    usage = {"input_tokens": 11, "output_tokens": 7, "cache_creation_input_tokens": 20 if cached else 0,
             "cache_read_input_tokens": 100 if cached else 0}
    text = "Echo: " + last_user_text(body["messages"])
    msg_id = "msg_01FakeProvider0000000001"
    if tool:
        content = [{"type": "tool_use", "id": "toolu_01Fake", "name": tool["name"], "input": {"city": "Paris"}}]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": text}]
        stop = "end_turn"
    if not body.get("stream"):
        return 200, "application/json", json.dumps({
            "id": msg_id, "type": "message", "role": "assistant", "model": body["model"], "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": usage})
    start_usage = dict(usage, output_tokens=1)
    out = sse("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": body["model"], "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
    if tool:
        out += sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": dict(content[0], input={})})
        for piece in ['{"city"', ': "Par', 'is"}']:
            out += sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}})
    else:
        out += sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        out += sse("ping", {"type": "ping"})
        for piece in (text[:6], text[6:]):
            out += sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
    out += sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 7}})
    out += sse("message_stop", {"type": "message_stop"})
    return 200, "text/event-stream", out


def openai_answer(body: dict, path: str):
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "prompt_tokens_details": {"cached_tokens": 4}}
    if path.endswith("/embeddings"):
        return 200, "application/json", json.dumps({"object": "list", "model": body["model"], "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    tool = wants_tool(body)
    text = "Echo: " + last_user_text(body["messages"])
    base = {"id": "chatcmpl-fake", "created": 1700000000, "model": body["model"]}
    if tool:
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_fake", "type": "function", "function": {"name": tool["function"]["name"], "arguments": '{"city":"Paris"}'}}]}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": text}
        finish = "stop"
    if not body.get("stream"):
        return 200, "application/json", json.dumps(dict(base, object="chat.completion", usage=usage, choices=[
            {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]))
    chunk = lambda delta, fin=None: "data: " + json.dumps(dict(base, object="chat.completion.chunk", choices=[
        {"index": 0, "delta": delta, "finish_reason": fin}])) + "\n\n"
    out = chunk({"role": "assistant", "content": ""})
    if tool:
        out += chunk({"tool_calls": [dict(message["tool_calls"][0], index=0)]})
    else:
        out += chunk({"content": text})
    out += chunk({}, finish)
    out += "data: " + json.dumps(dict(base, object="chat.completion.chunk", choices=[], usage=usage)) + "\n\n"
    out += "data: [DONE]\n\n"
    return 200, "text/event-stream", out


class State:
    def __init__(self, kind: str, key: str):
        self.kind, self.key = kind, key
        self.lock = threading.Lock()
        self.script: list[dict] = []
        self.requests: list[dict] = []


def handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status: int, content_type: str, body: str, headers: Optional[dict] = None, close: bool = False):
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if close:
                self.send_header("connection", "close")
                self.close_connection = True
            else:
                self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def error(self, status: int, kind: str, message: str):
            if state.kind == "anthropic":
                body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
            else:
                body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
            self.send(status, "application/json", json.dumps(body))

        def do_GET(self):
            if self.path == "/_requests":
                with state.lock:
                    self.send(200, "application/json", json.dumps(state.requests))
            else:
                self.record(None, ["GET " + self.path])
                self.error(404, "not_found_error", "not found")

        def record(self, body, problems):
            with state.lock:
                state.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body, "problems": problems})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/_script":
                with state.lock:
                    state.script.extend(json.loads(raw))
                return self.send(200, "application/json", "{}")
            try:
                body = json.loads(raw)
            except ValueError:
                self.record(raw.decode(errors="replace"), ["body is not JSON"])
                return self.error(400, "invalid_request_error", "body is not JSON")
            problems = self.check(body)
            self.record(body, problems)
            if problems:
                status = 401 if any(p.startswith("auth") for p in problems) else 400
                kind = "authentication_error" if status == 401 else "invalid_request_error"
                return self.error(status, kind, "; ".join(problems))
            with state.lock:
                scripted = state.script.pop(0) if state.script else None
            if scripted:
                return self.scripted(scripted)
            if state.kind == "anthropic":
                self.send(*anthropic_answer(body), close=bool(body.get("stream")))
            else:
                self.send(*openai_answer(body, self.path), close=bool(body.get("stream")))

        def check(self, body) -> list[str]:
            h = {k.lower(): v for k, v in self.headers.items()}
            if state.kind == "anthropic":
                if self.path != "/v1/messages":
                    return [f"path {self.path}: not an Anthropic endpoint"]
                problems = []
                if h.get("x-api-key") != state.key:
                    problems.append("auth: x-api-key is missing or wrong")
                if "authorization" in h:
                    problems.append("auth: an Authorization header must not be sent to Anthropic")
                if h.get("anthropic-version") != "2023-06-01":
                    problems.append("anthropic-version: missing or unknown")
                return problems + anthropic_problems(body)
            if self.path not in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
                return [f"path {self.path}: not an OpenAI endpoint"]
            problems = [] if h.get("authorization") == f"Bearer {state.key}" else ["auth: Authorization: Bearer is missing or wrong"]
            if self.path == "/v1/chat/completions":
                problems += openai_problems(body)
            return problems

        def scripted(self, s: dict):
            time.sleep(s.get("delay", 0))
            if "redirect" in s:
                return self.send(307, "text/plain", "", {"location": s["redirect"]})
            if "stream_raw" in s:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(s["stream_raw"].encode())
                self.wfile.flush()
                time.sleep(s.get("then_sleep", 0))
                self.close_connection = True
                return
            body = s.get("body", "")
            self.send(s.get("status", 200), s.get("content_type", "application/json"),
                      body if isinstance(body, str) else json.dumps(body), s.get("headers"))

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (the proxy's timeouts do) is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main() -> None:
    kind, host, key = sys.argv[1], sys.argv[2], sys.argv[3]
    server = Server((host, 0), handler(State(kind, key)))
    print(json.dumps({"url": f"http://{host}:{server.server_address[1]}"}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
