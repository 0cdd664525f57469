#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen_members.py N: prints N synthetic members as `serf members -format=json` does
({"members": [...]}, 2-space indent, same keys as examples/members.json), for bench/render.sh.

Deterministic, so every engine and every run sees the same input: node-000001.. with unique
10.x.y.z addresses (no .0/.255 octets), gossip port 7946; 1 in 20 failed (i % 20 == 0), the
rest alive; role=cache for 1 in 10 (i % 10 == 5, so some failed members are backends and the
alive filter matters), role=backend otherwise; tags port=8080, dc=eu1, weight=50 on every
3rd member. Only [A-Za-z0-9.-] values, so haserf leaves nobody out. The list is shuffled
with a fixed seed: serf prints members in map order, so every engine has to sort them."""
import json
import random
import sys


def member(i):
    # 254 values per octet (1..254): unique up to 10.255.254.254, i.e. 16.5 million members.
    a, rest = divmod(i - 1, 254 * 254)
    b, c = divmod(rest, 254)
    tags = {"role": "cache" if i % 10 == 5 else "backend", "port": "8080", "dc": "eu1"}
    if i % 3 == 0:
        tags["weight"] = "50"
    return {
        "name": f"node-{i:06d}",
        "addr": f"10.{a}.{b + 1}.{c + 1}:7946",
        "port": 7946,
        "tags": tags,
        "status": "failed" if i % 20 == 0 else "alive",
        "protocol": {"max": 5, "min": 2, "version": 5},
    }


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: gen_members.py N")
    n = int(sys.argv[1])
    if n > 254 * 254 * 256:
        sys.exit("gen_members.py: at most %d members" % (254 * 254 * 256))
    members = [member(i) for i in range(1, n + 1)]
    random.Random(n).shuffle(members)
    json.dump({"members": members}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
