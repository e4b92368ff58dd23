"""Policy refusals as each real Python SDK reports them: a model the token may not use, and a rate
limit reached, each raise that SDK's usual error class with our message. Retries are off
(max_retries=0; google-genai retries only when given retry options), so the refused call is
reported at once instead of waiting out Retry-After."""

import re

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors

ONE_A_DAY = {"requests": 1, "per_seconds": 86400}
RATE_MESSAGE = re.compile(r"^This api-proxy token is limited to 1 request per day; try again in (\d+) s\.$")


def create_token(stack, providers, **policy):
    status, body = stack.admin("POST", "/admin/api/tokens", {"label": "python-policy", "providers": providers, **policy})
    assert status == 201, body
    return body["token"]


def rate_message_matches(message, retry_after):
    match = RATE_MESSAGE.match(message)
    assert match, message
    assert match.group(1) == retry_after


# openai


def openai_client(stack, token):
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=token, max_retries=0)


def chat(client, model):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def test_openai_model_not_allowed_raises_permission_denied(fresh):
    client = openai_client(fresh, create_token(fresh, ["openai"], allowed_models=["gpt-4o-mini"]))
    assert chat(client, "gpt-4o-mini").model == "gpt-4o-mini"
    with pytest.raises(openai.PermissionDeniedError) as raised:
        chat(client, "gpt-4o")
    assert raised.value.status_code == 403
    assert raised.value.body["message"] == "Model gpt-4o is not allowed for this api-proxy token; it may use: gpt-4o-mini."
    assert len(fresh.requests("openai")) == 1


def test_openai_rate_limit_raises_rate_limit_error(fresh):
    client = openai_client(fresh, create_token(fresh, ["openai"], rate_limit=ONE_A_DAY))
    chat(client, "gpt-4o-mini")
    with pytest.raises(openai.RateLimitError) as raised:
        chat(client, "gpt-4o-mini")
    assert raised.value.status_code == 429
    headers = raised.value.response.headers
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    rate_message_matches(raised.value.body["message"], headers["retry-after"])
    assert len(fresh.requests("openai")) == 1


# anthropic


def anthropic_client(stack, token):
    return anthropic.Anthropic(base_url=stack.url, api_key=token, max_retries=0)


def message(client, model):
    return client.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}])


def test_anthropic_model_not_allowed_raises_permission_denied(fresh):
    client = anthropic_client(fresh, create_token(fresh, ["anthropic"], allowed_models=["claude-haiku-*"]))
    assert message(client, "claude-haiku-4-5").model == "claude-haiku-4-5"
    with pytest.raises(anthropic.PermissionDeniedError) as raised:
        message(client, "claude-opus-4-1")
    assert raised.value.status_code == 403
    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": "Model claude-opus-4-1 is not allowed for this api-proxy token; it may use: claude-haiku-*.",
        },
    }
    assert len(fresh.requests("anthropic")) == 1


def test_anthropic_rate_limit_raises_rate_limit_error(fresh):
    client = anthropic_client(fresh, create_token(fresh, ["anthropic"], rate_limit=ONE_A_DAY))
    message(client, "claude-haiku-4-5")
    with pytest.raises(anthropic.RateLimitError) as raised:
        message(client, "claude-haiku-4-5")
    assert raised.value.status_code == 429
    assert raised.value.body["error"]["type"] == "rate_limit_error"
    rate_message_matches(raised.value.body["error"]["message"], raised.value.response.headers["retry-after"])
    assert len(fresh.requests("anthropic")) == 1


# google-genai


def genai_client(stack, token):
    return genai.Client(api_key=token, http_options={"base_url": stack.url})


def test_gemini_model_not_allowed_raises_client_error_403(fresh):
    client = genai_client(fresh, create_token(fresh, ["gemini"], allowed_models=["gemini-2.5-flash"]))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "Hello from mock Gemini."
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert (raised.value.code, raised.value.status) == (403, "PERMISSION_DENIED")
    assert raised.value.message == "Model gemini-2.5-pro is not allowed for this api-proxy token; it may use: gemini-2.5-flash."
    assert len(fresh.requests("gemini")) == 1


def test_gemini_rate_limit_raises_client_error_429(fresh):
    client = genai_client(fresh, create_token(fresh, ["gemini"], rate_limit=ONE_A_DAY))
    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert (raised.value.code, raised.value.status) == (429, "RESOURCE_EXHAUSTED")
    rate_message_matches(raised.value.message, raised.value.response.headers["retry-after"])
    assert len(fresh.requests("gemini")) == 1
