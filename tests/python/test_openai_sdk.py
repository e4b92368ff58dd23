"""The real `openai` Python SDK, configured as a user would: base_url <proxy>/v1, the token as api_key."""

import json

import openai
import pytest

from sdk_checks import REVOKED_MESSAGE, expect_upstream


def client(stack, token):
    return openai.OpenAI(base_url=f"{stack.url}/v1", api_key=token)


def upstream_body(stack, path, token):
    [seen] = stack.requests("openai")
    expect_upstream(seen, path=path, slot="authorization", value=f"Bearer {stack.real_keys['openai']}", token=token)
    return json.loads(seen["body"]["text"])


def test_chat_completion_reaches_the_upstream_with_the_real_key(fresh):
    token = fresh.create_token(["openai"])["token"]
    reply = client(fresh, token).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello from mock OpenAI. You said: hi"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (9, 7, 16)
    sent = upstream_body(fresh, "/v1/chat/completions", token)
    assert sent["messages"] == [{"role": "user", "content": "hi"}]


def test_streamed_chat_completion_with_usage(fresh):
    token = fresh.create_token(["openai"])["token"]
    stream = client(fresh, token).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text == "Hello from mock OpenAI."
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (9, 4, 13)
    sent = upstream_body(fresh, "/v1/chat/completions", token)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_responses_api(fresh):
    token = fresh.create_token(["openai"])["token"]
    response = client(fresh, token).responses.create(model="gpt-4o-mini", input="hi")
    assert response.output_text == "Hello from mock OpenAI Responses."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (5, 6)
    upstream_body(fresh, "/v1/responses", token)


def test_streamed_responses_api(fresh):
    token = fresh.create_token(["openai"])["token"]
    text = ""
    with client(fresh, token).responses.stream(model="gpt-4o-mini", input="hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    assert text == "Hello from mock OpenAI Responses."
    assert final.output_text == text
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 6)
    assert upstream_body(fresh, "/v1/responses", token)["stream"] is True


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_a_revoked_token_raises_authentication_error_with_our_message(fresh, how):
    created = fresh.create_token(["openai"])
    openai_client = client(fresh, created["token"])
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "before"}])
    fresh.revoke(created["id"], how)
    fresh.reset()

    with pytest.raises(openai.AuthenticationError) as raised:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "after"}])
    assert raised.value.status_code == 401
    assert raised.value.body["message"] == REVOKED_MESSAGE[how]
    assert fresh.all_requests() == []


def test_a_token_without_the_openai_scope_raises_permission_denied(fresh):
    token = fresh.create_token(["anthropic", "gemini"])["token"]
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client(fresh, token).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 403
    assert raised.value.body["message"] == "This api-proxy token is not allowed to use OpenAI."
    assert fresh.all_requests() == []
