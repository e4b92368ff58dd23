"""The real `anthropic` Python SDK, configured as a user would: base_url <proxy> (the SDK adds
/v1/...), the token as api_key (sent in x-api-key)."""

import json

import anthropic
import pytest

from sdk_checks import REVOKED_MESSAGE, expect_upstream

MODEL = "claude-haiku-4-5"


def client(stack, token):
    return anthropic.Anthropic(base_url=stack.url, api_key=token)


def create(anthropic_client, content):
    return anthropic_client.messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}])


def upstream_body(stack, token):
    [seen] = stack.requests("anthropic")
    expect_upstream(seen, path="/v1/messages", slot="x-api-key", value=stack.real_keys["anthropic"], token=token)
    assert seen["headers"]["anthropic-version"]
    return json.loads(seen["body"]["text"])


def test_messages_create(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    message = create(client(fresh, token), "hi")
    assert [(b.type, b.text) for b in message.content] == [("text", "Hello from mock Anthropic. You said: hi")]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 8)
    assert upstream_body(fresh, token)["messages"] == [{"role": "user", "content": "hi"}]


def test_messages_stream(fresh):
    token = fresh.create_token(["anthropic"])["token"]
    with client(fresh, token).messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from mock Anthropic."
    assert [(b.type, b.text) for b in final.content] == [("text", text)]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 8)
    assert upstream_body(fresh, token)["stream"] is True


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_a_revoked_token_raises_authentication_error_with_our_message(fresh, how):
    created = fresh.create_token(["anthropic"])
    anthropic_client = client(fresh, created["token"])
    create(anthropic_client, "before")
    fresh.revoke(created["id"], how)
    fresh.reset()

    with pytest.raises(anthropic.AuthenticationError) as raised:
        create(anthropic_client, "after")
    assert raised.value.status_code == 401
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": REVOKED_MESSAGE[how]},
    }
    assert fresh.all_requests() == []


def test_a_token_without_the_anthropic_scope_raises_permission_denied(fresh):
    token = fresh.create_token(["openai", "gemini"])["token"]
    with pytest.raises(anthropic.PermissionDeniedError) as raised:
        create(client(fresh, token), "hi")
    assert raised.value.status_code == 403
    assert raised.value.body["error"] == {
        "type": "permission_error",
        "message": "This api-proxy token is not allowed to use Anthropic.",
    }
    assert fresh.all_requests() == []
