"""Checks shared by the Python SDK tests."""

import json
import urllib.parse

# Our messages for a revoked token, by how it was revoked.
REVOKED_MESSAGE = {
    "disable": "This api-proxy token has been disabled.",
    "delete": "Invalid api-proxy token.",
}

CREDENTIAL_SLOTS = ("authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "xi-api-key")


def expect_upstream(seen, *, path, slot, value, token):
    """One request as the mock provider received it went to `path`, carried the real key in the
    provider's own slot and no other credential, and held the token nowhere (URL, headers, body)."""
    assert seen["path"] == path
    credentials = {h: seen["headers"][h] for h in CREDENTIAL_SLOTS if h in seen["headers"]}
    assert credentials == {slot: value}
    assert "key" not in urllib.parse.parse_qs(seen["query"].lstrip("?"))
    assert token not in json.dumps(seen)
