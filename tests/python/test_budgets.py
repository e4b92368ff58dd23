"""A used-up budget as each real Python SDK reports it: a token budget that fits exactly two calls
lets two through, and the third raises that SDK's usual quota error with our message. The openai
and anthropic clients keep their default retries: the refusal says `x-should-retry: false`."""

import re
import time

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors

USED_UP = re.compile(r"^This api-proxy token's budget of \d+ tokens per day is used up\. It resets at \d{4}-\d\d-\d\dT00:00:00Z \(UTC\)\.$")


def tokens_per_call(stack, providers, call):
    """Runs `call` once with a probe token; what it cost in tokens, as the ledger recorded it."""
    probe = stack.create_token(providers, label="python-budget-probe")
    call(probe["token"])
    for _ in range(100):
        status, body = stack.admin("GET", f"/admin/api/tokens/{probe['id']}/usage")
        assert status == 200, body
        if body["totals"]["requests"] == 1:
            return body["totals"]["input_tokens"] + body["totals"]["output_tokens"]
        time.sleep(0.1)
    raise AssertionError("the probe's usage never reached the ledger")


def two_call_token(stack, providers, call):
    per = tokens_per_call(stack, providers, call)
    status, body = stack.admin(
        "POST",
        "/admin/api/tokens",
        {"label": "python-budget", "providers": providers, "budget_tokens": {"tokens": 2 * per, "per": "day"}},
    )
    assert status == 201, body
    return body["token"]


def test_openai_third_call_raises_rate_limit_error_insufficient_quota(fresh):
    def call(token):
        client = openai.OpenAI(base_url=f"{fresh.url}/v1", api_key=token)
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    token = two_call_token(fresh, ["openai"], call)
    call(token)
    call(token)
    with pytest.raises(openai.RateLimitError) as raised:
        call(token)
    assert raised.value.status_code == 429
    assert raised.value.code == "insufficient_quota"
    assert USED_UP.match(raised.value.body["message"]), raised.value.body
    assert raised.value.response.headers["x-api-proxy-budget-remaining-tokens"] == "0"


def test_anthropic_third_call_raises_rate_limit_error(fresh):
    def call(token):
        client = anthropic.Anthropic(base_url=fresh.url, api_key=token)
        return client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])

    token = two_call_token(fresh, ["anthropic"], call)
    call(token)
    call(token)
    with pytest.raises(anthropic.RateLimitError) as raised:
        call(token)
    assert raised.value.body["error"]["type"] == "rate_limit_error"
    assert USED_UP.match(raised.value.body["error"]["message"]), raised.value.body


def test_google_genai_third_call_raises_client_error_resource_exhausted(fresh):
    def call(token):
        client = genai.Client(api_key=token, http_options={"base_url": fresh.url})
        return client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    token = two_call_token(fresh, ["gemini"], call)
    call(token)
    call(token)
    with pytest.raises(errors.ClientError) as raised:
        call(token)
    assert raised.value.code == 429
    assert raised.value.status == "RESOURCE_EXHAUSTED"
    assert USED_UP.match(raised.value.message), raised.value.message
