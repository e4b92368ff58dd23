"""The Python frameworks, each its real package configured as the README's client table says,
against the mock upstream through the proxy: one plain and one streamed call each, checking what
the client returned and what the upstream received."""

import asyncio
import os

# litellm downloads its model price list at import unless told to use the copy it ships.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

from client_checks import upstream_body  # noqa: E402

OPENAI_ANSWER = "Hello from mock OpenAI. You said: hi"
OPENAI_STREAMED = "Hello from mock OpenAI."
MESSAGES = [{"role": "user", "content": "hi"}]


# ---------- litellm ----------


def test_litellm_openai_completion(fresh):
    token = fresh.create_token(["openai"])["token"]
    reply = litellm.completion(model="openai/gpt-4o-mini", api_base=f"{fresh.url}/v1", api_key=token, messages=MESSAGES)
    assert reply.choices[0].message.content == OPENAI_ANSWER
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["messages"] == MESSAGES


def test_litellm_openai_stream(fresh):
    token = fresh.create_token(["openai"])["token"]
    chunks = litellm.completion(model="openai/gpt-4o-mini", api_base=f"{fresh.url}/v1", api_key=token, messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == OPENAI_STREAMED
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["stream"] is True


def test_litellm_anthropic_completion(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    reply = litellm.completion(model="anthropic/claude-haiku-4-5", api_base=fresh.url, api_key=token, messages=MESSAGES, max_tokens=64)
    assert reply.choices[0].message.content == "Hello from mock Anthropic. You said: hi"
    assert upstream_body(fresh, "anthropic", "/v1/messages", token)["messages"][0]["role"] == "user"


def test_litellm_anthropic_stream(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    chunks = litellm.completion(
        model="anthropic/claude-haiku-4-5", api_base=fresh.url, api_key=token, messages=MESSAGES, max_tokens=64, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from mock Anthropic."
    assert upstream_body(fresh, "anthropic", "/v1/messages", token)["stream"] is True


# ---------- pydantic-ai ----------


def agent(stack, token):
    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=f"{stack.url}/v1", api_key=token))
    return Agent(model)


def test_pydantic_ai_run(fresh):
    token = fresh.create_token(["openai"])["token"]
    result = agent(fresh, token).run_sync("hi")
    assert result.output == OPENAI_ANSWER
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["messages"][-1]["content"] == "hi"


def test_pydantic_ai_run_stream(fresh):
    token = fresh.create_token(["openai"])["token"]

    async def streamed():
        async with agent(fresh, token).run_stream("hi") as run:
            return "".join([delta async for delta in run.stream_text(delta=True)])

    assert asyncio.run(streamed()) == OPENAI_STREAMED
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["stream"] is True


# ---------- langchain-openai ----------


def chat(stack, token):
    return ChatOpenAI(model="gpt-4o-mini", base_url=f"{stack.url}/v1", api_key=token)


def test_langchain_openai_invoke(fresh):
    token = fresh.create_token(["openai"])["token"]
    assert chat(fresh, token).invoke("hi").content == OPENAI_ANSWER
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["messages"] == MESSAGES


def test_langchain_openai_stream(fresh):
    token = fresh.create_token(["openai"])["token"]
    assert "".join(chunk.content for chunk in chat(fresh, token).stream("hi")) == OPENAI_STREAMED
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["stream"] is True
