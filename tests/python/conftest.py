"""The stack (mock upstreams + the built Worker in workerd) for the Python SDK tier.

It is started once per session by running tests/support/stack.mjs under the project's Node and
reading the `STACK {json}` line it prints; the mock's recorded requests are read over HTTP.
"""

import json
import os
import pathlib
import subprocess
import threading
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, info):
        self.url = info["url"]
        self.mock = info["mock"]
        self.admin_secret = info["adminSecret"]
        self.real_keys = info["realKeys"]

    def _call(self, method, url, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def admin(self, method, path, body=None):
        return self._call(
            method,
            self.url + path,
            body,
            {"authorization": f"Bearer {self.admin_secret}", "content-type": "application/json"},
        )

    def create_token(self, providers=("openai", "anthropic", "gemini"), label="python-sdk"):
        status, body = self.admin("POST", "/admin/api/tokens", {"label": label, "providers": list(providers)})
        assert status == 201, body
        return body

    def revoke(self, token_id, how):
        """Revokes a token the two ways an admin can: "disable" it, or "delete" it."""
        if how == "disable":
            status, body = self.admin("PATCH", f"/admin/api/tokens/{token_id}", {"status": "disabled"})
        else:
            status, body = self.admin("DELETE", f"/admin/api/tokens/{token_id}")
        assert status == 200, body

    def requests(self, provider):
        """What the mock upstream of `provider` received, oldest first."""
        return self._call("GET", self.mock[provider] + "/__mock/requests")[1]

    def all_requests(self):
        return [r for provider in self.mock for r in self.requests(provider)]

    def reset(self):
        for url in self.mock.values():
            self._call("POST", url + "/__mock/reset")


@pytest.fixture(scope="session")
def stack():
    node = ROOT / "node_modules" / ".bin" / "node"
    proc = subprocess.Popen(
        [str(node), str(ROOT / "tests/support/stack.mjs")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    for line in proc.stdout:
        if line.startswith("STACK "):
            break
    else:
        proc.kill()
        raise RuntimeError("tests/support/stack.mjs exited before printing its URLs")
    info = json.loads(line[len("STACK ") :])
    # Keep reading its output so a full pipe never blocks the stack.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield Stack(info)
    proc.stdin.close()
    proc.wait(timeout=30)


@pytest.fixture
def fresh(stack):
    """The stack with the mock's request log emptied."""
    stack.reset()
    return stack
