import openai
import pytest


def test_chat_completion_reaches_the_upstream_with_the_real_key(fresh):
    token = fresh.create_token(["openai"])["token"]
    client = openai.OpenAI(base_url=f"{fresh.url}/v1", api_key=token)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "You said: hi" in reply.choices[0].message.content
    [seen] = fresh.requests("openai")
    assert seen["path"] == "/v1/chat/completions"
    assert seen["headers"]["authorization"] == f"Bearer {fresh.real_keys['openai']}"
    assert token not in str(seen)
