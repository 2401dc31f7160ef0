#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into fuzz/seeds/TARGET/ from the vectors
in tests/vectors (see fuzz/README.md). Run from anywhere: python3 fuzz/make_seeds.py"""
import hashlib
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
vectors = root / "tests" / "vectors"
out = root / "fuzz" / "seeds"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


chains = {p.name: p.read_text() for p in sorted((vectors / "chains").glob("*.json"))}
valid = json.loads(chains["valid.json"])
python_message = json.dumps(valid)  # Python's dialect, as a Redis message
compact_body = json.dumps({"chain": valid}, separators=(",", ":"), ensure_ascii=False)

for text in chains.values():
    put("chain_json", text)
    put("validate", text)
    for selector in (0, 1, 2, 4, 8, 24):
        put("examine", bytes([selector]) + text.encode())
for case in json.loads((vectors / "seed_hash_vectors.json").read_text()):
    put("chain_json", case["data_json"])
for block in json.loads((vectors / "seed_mined_blocks.json").read_text()):
    put("chain_json", json.dumps(block))
put("chain_json", python_message)
put("validate", python_message)
put("validate", compact_body)
# A message that extends snapshots of 1, 2 and 10 blocks, and ours exactly (24).
for selector in (0, 8, 16, 24, 2, 10):
    put("examine", bytes([selector]) + python_message.encode())
    put("examine", bytes([selector]) + compact_body.encode())
