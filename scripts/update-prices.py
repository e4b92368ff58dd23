#!/usr/bin/env python3
"""Regenerates src/usage/prices.json, the price table the proxy computes cost from.

Source: `model_prices_and_context_window_backup.json` inside the `litellm` wheel on PyPI (MIT
licensed), the maintained table of USD-per-token prices. The wheel is downloaded with pip
(`--no-deps`, never installed or run) and only that file is read. Kept: the OpenAI, Anthropic and
Gemini chat, responses, embedding and audio-transcription models, and of their rates only the ones
the ledger uses, as USD per million tokens:

    [input, cached_input, cache_write, output, tier_above, tier_input, tier_cached_input,
     tier_cache_write, tier_output]

`cached_input` / `cache_write` are null where the provider has no such rate; `tier_above` is the
prompt size (input tokens) above which the tier rates apply to the whole request (Gemini's and
Anthropic's long-context prices), or null.

Usage: scripts/update-prices.py [--version X.Y.Z]   (default: the pinned version below)
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

PINNED = "1.110.2"
MEMBER = "litellm/model_prices_and_context_window_backup.json"
PROVIDERS = {"openai", "anthropic", "gemini"}
MODES = {"chat", "responses", "embedding", "audio_transcription", "completion"}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "usage", "prices.json")


def per_million(v):
    if v is None:
        return None
    # Round away float noise (1.5e-07 * 1e6 = 0.15000000000000002).
    return float(f"{v * 1e6:.6g}")


def tier(entry):
    """The lowest long-context threshold the entry prices, with its rates."""
    for above in ("128k", "200k", "272k"):
        key = f"input_cost_per_token_above_{above}_tokens"
        if key in entry:
            rates = [
                entry.get(key),
                entry.get(f"cache_read_input_token_cost_above_{above}_tokens"),
                entry.get(f"cache_creation_input_token_cost_above_{above}_tokens"),
                entry.get(f"output_cost_per_token_above_{above}_tokens"),
            ]
            return [int(above[:-1]) * 1000] + [per_million(r) for r in rates]
    return [None] * 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default=PINNED)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"litellm=={args.version}", "--no-deps", "-q", "-d", tmp],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "litellm-*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            table = json.loads(z.read(MEMBER))
    models = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or entry.get("litellm_provider") not in PROVIDERS:
            continue
        if entry.get("mode") not in MODES or "input_cost_per_token" not in entry:
            continue
        # Gemini answers name the model without litellm's routing prefix.
        name = name.removeprefix("gemini/")
        if "/" in name:
            continue
        models[name] = [
            per_million(entry.get("input_cost_per_token")),
            per_million(entry.get("cache_read_input_token_cost")),
            per_million(entry.get("cache_creation_input_token_cost")),
            per_million(entry.get("output_cost_per_token", 0.0)),
        ] + tier(entry)
    doc = {
        "source": f"litellm {args.version} (PyPI), {MEMBER}, MIT license",
        "date": datetime.date.today().isoformat(),
        "unit": "USD per million tokens",
        "columns": ["input", "cached_input", "cache_write", "output", "tier_above", "tier_input",
                    "tier_cached_input", "tier_cache_write", "tier_output"],
        "models": dict(sorted(models.items())),
    }
    with open(OUT, "w") as f:
        f.write("{\n")
        for key in ("source", "date", "unit", "columns"):
            f.write(f"  {json.dumps(key)}: {json.dumps(doc[key])},\n")
        f.write('  "models": {\n')
        rows = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in doc["models"].items()]
        f.write(",\n".join(rows))
        f.write("\n  }\n}\n")
    print(f"{len(models)} models -> {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
