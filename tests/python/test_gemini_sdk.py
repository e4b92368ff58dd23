"""Gemini two ways, each configured as a user would: the real `google-genai` Python SDK with
http_options={"base_url": <proxy>}, and the `openai` SDK with base_url <proxy>/v1beta/openai; the
token is the API key in both."""

import json

import openai
import pytest
from google import genai
from google.genai import errors

from sdk_checks import REVOKED_MESSAGE, expect_upstream

MODEL = "gemini-2.5-flash"
# google-genai 3.x calls the Gemini API's v1 by default (not v1beta), with the key in
# x-goog-api-key: the proxy must recognise Gemini by that slot whatever the version segment.
API_VERSION = "v1"


def genai_client(stack, token):
    # Keep the returned Client referenced while it is used: once it is garbage collected, it closes
    # the HTTP client its `models` still hold ("Cannot send a request, as the client has been closed").
    return genai.Client(api_key=token, http_options={"base_url": stack.url})


def openai_client(stack, token):
    return openai.OpenAI(base_url=f"{stack.url}/v1beta/openai", api_key=token)


def upstream(stack, path, slot, token):
    [seen] = stack.requests("gemini")
    key = stack.real_keys["gemini"]
    expect_upstream(seen, path=path, slot=slot, value=f"Bearer {key}" if slot == "authorization" else key, token=token)
    return seen


def usage_counts(usage):
    return (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count)


def test_generate_content(fresh):
    token = fresh.create_token(["gemini"])["token"]
    client = genai_client(fresh, token)
    response = client.models.generate_content(model=MODEL, contents="hi")
    assert response.text == "Hello from mock Gemini."
    assert usage_counts(response.usage_metadata) == (4, 6, 10)
    seen = upstream(fresh, f"/{API_VERSION}/models/{MODEL}:generateContent", "x-goog-api-key", token)
    assert json.loads(seen["body"]["text"])["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_generate_content_stream(fresh):
    token = fresh.create_token(["gemini"])["token"]
    text, usage = "", None
    client = genai_client(fresh, token)
    for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
        text += chunk.text or ""
        usage = chunk.usage_metadata or usage
    assert text == "Hello from mock Gemini."
    assert usage_counts(usage) == (4, 6, 10)
    seen = upstream(fresh, f"/{API_VERSION}/models/{MODEL}:streamGenerateContent", "x-goog-api-key", token)
    assert seen["query"] == "?alt=sse"


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_a_revoked_token_raises_client_error_401_with_our_message(fresh, how):
    created = fresh.create_token(["gemini"])
    client = genai_client(fresh, created["token"])
    client.models.generate_content(model=MODEL, contents="before")
    fresh.revoke(created["id"], how)
    fresh.reset()

    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="after")
    assert (raised.value.code, raised.value.status) == (401, "UNAUTHENTICATED")
    assert raised.value.message == REVOKED_MESSAGE[how]
    assert fresh.all_requests() == []


def test_a_token_without_the_gemini_scope_raises_client_error_403(fresh):
    token = fresh.create_token(["openai", "anthropic"])["token"]
    client = genai_client(fresh, token)
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="hi")
    assert (raised.value.code, raised.value.status) == (403, "PERMISSION_DENIED")
    assert raised.value.message == "This api-proxy token is not allowed to use Gemini."
    assert fresh.all_requests() == []


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def test_openai_compatible_chat_completion(fresh):
    token = fresh.create_token(["gemini"])["token"]
    reply = openai_client(fresh, token).chat.completions.create(**CHAT)
    assert reply.choices[0].message.content == "Hello from mock OpenAI. You said: hi"
    assert reply.usage.total_tokens == 16
    upstream(fresh, "/v1beta/openai/chat/completions", "authorization", token)
    assert fresh.requests("openai") == []


def test_openai_compatible_streamed_chat_completion(fresh):
    token = fresh.create_token(["gemini"])["token"]
    stream = openai_client(fresh, token).chat.completions.create(
        **CHAT, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text == "Hello from mock OpenAI."
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (9, 4, 13)
    upstream(fresh, "/v1beta/openai/chat/completions", "authorization", token)


def test_openai_compatible_disabled_token_raises_authentication_error(fresh):
    created = fresh.create_token(["gemini"])
    fresh.revoke(created["id"], "disable")
    with pytest.raises(openai.AuthenticationError) as raised:
        openai_client(fresh, created["token"]).chat.completions.create(**CHAT)
    assert raised.value.body["message"] == REVOKED_MESSAGE["disable"]
    assert fresh.all_requests() == []


def test_openai_compatible_out_of_scope_token_raises_permission_denied(fresh):
    token = fresh.create_token(["openai"])["token"]
    with pytest.raises(openai.PermissionDeniedError) as raised:
        openai_client(fresh, token).chat.completions.create(**CHAT)
    assert raised.value.body["message"] == "This api-proxy token is not allowed to use Gemini."
    assert fresh.all_requests() == []
