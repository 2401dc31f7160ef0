#!/usr/bin/env python3
"""The original Python node's chain validation, rewritten from docs/PROTOCOL.md, to time
`minichain validate` against it on the same file, side by side:

    python3 benches/original_validator.py /tmp/chain-100k.json

Prints the verdict and the time of each phase (json.loads, building block objects,
the checks), as the original spends it.
"""
import hashlib
import json
import sys
import time

GENESIS = dict(block_no=0, timestamp=1000, prev_hash="0x0000", data=[],
               hash="1dd327f2d4772295a8ec7a96e0338fef7291c1652976ccc498dbd9849b01f5e9",
               nonce=0, difficulty=4)


class Block:
    def __init__(self, block_no, timestamp, prev_hash, data, hash, nonce, difficulty):
        self.block_no = block_no
        self.timestamp = timestamp
        self.prev_hash = prev_hash
        self.data = data
        self.hash = hash
        self.nonce = nonce
        self.difficulty = difficulty

    def __eq__(self, other):
        return self.__dict__ == other.__dict__


def hash_function(*fields):
    return hashlib.sha256("".join(str(f) for f in fields).encode("utf-8")).hexdigest()


def is_valid_chain(chain):
    if chain[0] != Block(**GENESIS):
        return False
    for i in range(1, len(chain)):
        block, last = chain[i], chain[i - 1]
        if block.prev_hash != last.hash:
            return False
        if block.hash != hash_function(block.block_no, block.timestamp, block.data,
                                       block.prev_hash, block.nonce, block.difficulty):
            return False
        if abs(last.difficulty - block.difficulty) > 1:
            return False
    return True


def main():
    t0 = time.perf_counter()
    with open(sys.argv[1], encoding="utf-8") as f:
        raw = json.loads(f.read())
    t1 = time.perf_counter()
    chain = [Block(**b) for b in (raw["chain"] if isinstance(raw, dict) else raw)]
    t2 = time.perf_counter()
    ok = is_valid_chain(chain)
    t3 = time.perf_counter()
    print(f"{'valid' if ok else 'invalid'}: {len(chain)} blocks; "
          f"json.loads {t1 - t0:.3f} s, objects {t2 - t1:.3f} s, checks {t3 - t2:.3f} s, "
          f"total {t3 - t0:.3f} s ({(t3 - t2) / len(chain) * 1e6:.2f} us a block in checks)")


if __name__ == "__main__":
    main()
