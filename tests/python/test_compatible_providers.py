"""The real `openai` Python SDK against OpenAI-compatible providers behind their prefixes, as a user
configures it: base_url <proxy>/mistral/v1 or <proxy>/fireworks/inference/v1, the token as api_key."""

import json

import openai
import pytest

from sdk_checks import expect_upstream

PROVIDERS = [("mistral", "/mistral/v1", "/v1"), ("fireworks", "/fireworks/inference/v1", "/inference/v1")]


@pytest.mark.parametrize("provider,prefix,upstream_base", PROVIDERS)
def test_chat_completion_through_the_prefix(fresh, provider, prefix, upstream_base):
    token = fresh.create_token([provider])["token"]
    client = openai.OpenAI(base_url=f"{fresh.url}{prefix}", api_key=token, max_retries=0)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from mock OpenAI. You said: hi"
    [seen] = fresh.requests(provider)
    expect_upstream(
        seen,
        path=f"{upstream_base}/chat/completions",
        slot="authorization",
        value=f"Bearer {fresh.real_keys[provider]}",
        token=token,
    )
    assert json.loads(seen["body"]["text"])["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("provider,prefix,upstream_base", PROVIDERS)
def test_out_of_scope_is_permission_denied(fresh, provider, prefix, upstream_base):
    token = fresh.create_token(["openai"])["token"]
    client = openai.OpenAI(base_url=f"{fresh.url}{prefix}", api_key=token, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.models.list()
    assert "not allowed to use" in str(e.value)
    assert fresh.requests(provider) == []
