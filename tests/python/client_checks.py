"""Checks shared by the Python framework tests: every request the mock got carried the real key in
the provider's own slot and the token nowhere, and the last one went where the client should."""

import json

from sdk_checks import expect_upstream

SLOTS = {
    "openai": ("authorization", lambda key: f"Bearer {key}"),
    "anthropic": ("x-api-key", lambda key: key),
    "gemini": ("x-goog-api-key", lambda key: key),
}


def upstream_body(stack, provider, path, token):
    seen = stack.requests(provider)
    assert seen, f"nothing reached the {provider} upstream"
    slot, value = SLOTS[provider]
    for request in seen:
        expect_upstream(request, path=request["path"], slot=slot, value=value(stack.real_keys[provider]), token=token)
    assert token not in json.dumps(stack.all_requests())
    assert seen[-1]["path"] == path
    return json.loads(seen[-1]["body"]["text"])
