"""LlamaIndex's LLM integrations and instructor, which run in .venv-compat (tests/requirements-compat.txt):
their current releases need an older openai, google-genai or jiter than the SDK tier's. Configured
as the README's client table says; one plain and one streamed call each, both sides checked."""

import instructor
import openai
from google.genai import types
from llama_index.llms.anthropic import Anthropic
from llama_index.llms.google_genai import GoogleGenAI
from llama_index.llms.openai import OpenAI
from pydantic import BaseModel

from client_checks import upstream_body

# ---------- LlamaIndex ----------


def test_llamaindex_openai_complete(fresh):
    token = fresh.create_token(["openai"])["token"]
    llm = OpenAI(model="gpt-4o-mini", api_base=f"{fresh.url}/v1", api_key=token)
    assert llm.complete("hi").text == "Hello from mock OpenAI. You said: hi"
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["messages"][-1]["content"] == "hi"


def test_llamaindex_openai_stream_complete(fresh):
    token = fresh.create_token(["openai"])["token"]
    llm = OpenAI(model="gpt-4o-mini", api_base=f"{fresh.url}/v1", api_key=token)
    assert "".join(r.delta for r in llm.stream_complete("hi")) == "Hello from mock OpenAI."
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["stream"] is True


def anthropic_llm(stack, token):
    return Anthropic(model="claude-haiku-4-5", base_url=stack.url, api_key=token, max_tokens=64)


def test_llamaindex_anthropic_complete(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    assert anthropic_llm(fresh, token).complete("hi").text == "Hello from mock Anthropic. You said: hi"
    upstream_body(fresh, "anthropic", "/v1/messages", token)


def test_llamaindex_anthropic_stream_complete(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    assert "".join(r.delta for r in anthropic_llm(fresh, token).stream_complete("hi")) == "Hello from mock Anthropic."
    assert upstream_body(fresh, "anthropic", "/v1/messages", token)["stream"] is True


def gemini_llm(stack, token):
    return GoogleGenAI(model="gemini-2.5-flash", api_key=token, http_options=types.HttpOptions(base_url=stack.url))


def test_llamaindex_google_genai_complete(fresh):
    token = fresh.create_token(["gemini"])["token"]
    assert gemini_llm(fresh, token).complete("hi").text == "Hello from mock Gemini."
    upstream_body(fresh, "gemini", "/v1beta/models/gemini-2.5-flash:generateContent", token)


def test_llamaindex_google_genai_stream_complete(fresh):
    token = fresh.create_token(["gemini"])["token"]
    assert "".join(r.delta or "" for r in gemini_llm(fresh, token).stream_complete("hi")) == "Hello from mock Gemini."
    upstream_body(fresh, "gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", token)


# ---------- instructor ----------


class User(BaseModel):
    name: str
    age: int


def structured(stack, token, mode):
    client = instructor.from_openai(openai.OpenAI(base_url=f"{stack.url}/v1", api_key=token), mode=mode)
    return client.chat.completions


# The mock answers a forced tool call, or a json_object request, with an instance of the schema:
# "mock <field>" for strings, 1 for integers.
EXPECTED = User(name="mock name", age=1)
PROMPT = [{"role": "user", "content": "Ada is 36."}]


def test_instructor_tools_mode(fresh):
    token = fresh.create_token(["openai"])["token"]
    assert structured(fresh, token, instructor.Mode.TOOLS).create(model="gpt-4o-mini", response_model=User, messages=PROMPT).model_dump() == EXPECTED.model_dump()
    sent = upstream_body(fresh, "openai", "/v1/chat/completions", token)
    assert sent["tool_choice"]["function"]["name"] == "User"


def test_instructor_tools_mode_streamed_partials(fresh):
    token = fresh.create_token(["openai"])["token"]
    partials = list(structured(fresh, token, instructor.Mode.TOOLS).create_partial(model="gpt-4o-mini", response_model=User, messages=PROMPT))
    assert partials and partials[-1].model_dump() == EXPECTED.model_dump()
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["stream"] is True


def test_instructor_json_mode(fresh):
    token = fresh.create_token(["openai"])["token"]
    assert structured(fresh, token, instructor.Mode.JSON).create(model="gpt-4o-mini", response_model=User, messages=PROMPT).model_dump() == EXPECTED.model_dump()
    assert upstream_body(fresh, "openai", "/v1/chat/completions", token)["response_format"] == {"type": "json_object"}


def test_instructor_json_mode_streamed_partials(fresh):
    token = fresh.create_token(["openai"])["token"]
    partials = list(structured(fresh, token, instructor.Mode.JSON).create_partial(model="gpt-4o-mini", response_model=User, messages=PROMPT))
    assert partials and partials[-1].model_dump() == EXPECTED.model_dump()
    sent = upstream_body(fresh, "openai", "/v1/chat/completions", token)
    assert sent["stream"] is True and sent["response_format"] == {"type": "json_object"}
