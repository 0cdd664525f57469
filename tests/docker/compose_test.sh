#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/compose/compose.yaml without a Docker engine: it parses as YAML, and everything it
# names exists: build contexts and Dockerfiles, bind-mounted files, named volumes, the images
# (built by a service of the file: there is no registry to pull from), the programs its
# entrypoints and health checks run (mounted, copied by the Dockerfile or installed by it),
# the ports it publishes (exposed by the image), the HASERF_* knobs it sets (read by the glue,
# lua/haserf/config.lua). A service that replaces the image's entrypoint must not inherit the
# image's STOPSIGNAL (SIGUSR1 kills a `haserf agent` without a leave).
# Usage: compose_test.sh BUILD_DIR SOURCE_DIR. Needs python3 with PyYAML (python3-yaml).
BUILD=$1  # unused
: "$BUILD"
SRC=$(cd "$2" && pwd)
set -o pipefail
. "$SRC/tests/cli/lib.sh"

# Debian's python3 first (python3-yaml, scripts/install-deps.sh), then whatever PATH has.
PY=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { fail "python3 with PyYAML is installed (apt-get install python3-yaml)"; finish; exit 1; }

COMPOSE=$SRC/examples/compose/compose.yaml
[ -f "$COMPOSE" ] && pass "examples/compose/compose.yaml exists" || { fail "examples/compose/compose.yaml exists"; finish; exit 1; }
[ -f "$SRC/examples/compose/README.md" ] && pass "examples/compose/README.md exists" || fail "examples/compose/README.md exists"
for f in "$SRC"/examples/compose/*.sh; do
  [ -f "$f" ] || continue
  bash -n "$f" 2>"$TMP/err" && pass "${f#"$SRC"/} is valid bash" || fail "${f#"$SRC"/} is valid bash" "$(cat "$TMP/err")"
done

# The checks, as lines "ok<TAB>DESC" or "FAIL<TAB>DESC<TAB>DETAIL".
"$PY" - "$COMPOSE" "$SRC" >"$TMP/results" 2>"$TMP/py.err" <<'EOF'
import os, re, shlex, sys
import yaml

compose_path, src = sys.argv[1], sys.argv[2]
base = os.path.dirname(compose_path)

def ok(desc): print("ok\t" + desc)
def bad(desc, detail=""): print("FAIL\t" + desc + "\t" + str(detail).replace("\n", " "))
def check(cond, desc, detail=""): ok(desc) if cond else bad(desc, detail)
def rel(p):
    r = os.path.relpath(p, src)
    return "the repository root" if r == "." else r

try:
    doc = yaml.safe_load(open(compose_path))
except yaml.YAMLError as e:
    bad("compose.yaml parses as YAML", e)
    sys.exit(0)
ok("compose.yaml parses as YAML")
services = doc.get("services") if isinstance(doc, dict) else None
if not isinstance(services, dict) or not services:
    bad("compose.yaml has services", doc)
    sys.exit(0)
ok("compose.yaml has services: " + ", ".join(services))
named_volumes = set((doc.get("volumes") or {}).keys())

# The glue's knobs: the names in M.KNOBS, plus the per-backend HASERF_SELECT_<BACKEND>.
config_lua = open(os.path.join(src, "lua/haserf/config.lua")).read()
knobs = set(re.findall(r"^\s+(HASERF_[A-Z_]+)\s*=\s*\{", config_lua, re.M))
check(len(knobs) > 10, "the glue's knobs are read from lua/haserf/config.lua (%d)" % len(knobs))

# What each Dockerfile provides: COPY destinations, apt-get installed packages, EXPOSEd
# ports, STOPSIGNAL, whether it sets an ENTRYPOINT.
def dockerfile_facts(path):
    text = open(path).read().replace("\\\n", " ")
    facts = {"copies": set(), "packages": set(), "expose": set(), "stopsignal": None}
    stage_copies, stage_packages = set(), set()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        op = words[0].upper()
        if op == "FROM":  # only the last stage is the image
            stage_copies, stage_packages = set(), set()
        elif op == "COPY":
            args = [w for w in words[1:] if not w.startswith("--")]
            dest = args[-1]
            for s in args[:-1]:
                stage_copies.add(dest + os.path.basename(s) if dest.endswith("/") else dest)
        elif op == "RUN" and "apt-get" in line and "install" in line:
            for w in words:
                if re.match(r"^[a-z0-9][a-z0-9.+-]+$", w) and w not in ("apt-get", "install", "update", "rm", "bash"):
                    stage_packages.add(w)
        elif op == "EXPOSE":
            facts["expose"].update(w.split("/")[0] for w in words[1:] if w.endswith("/tcp") or "/" not in w)
        elif op == "STOPSIGNAL":
            facts["stopsignal"] = words[1]
    facts["copies"], facts["packages"] = stage_copies, stage_packages
    return facts

# Images built by the file: image name -> Dockerfile facts.
built = {}
for name, svc in services.items():
    b = svc.get("build")
    if b is None:
        continue
    if isinstance(b, str):
        b = {"context": b}
    ctx = os.path.normpath(os.path.join(base, b.get("context", ".")))
    check(os.path.isdir(ctx), "%s: build context %s exists" % (name, rel(ctx)))
    df = os.path.normpath(os.path.join(ctx, b.get("dockerfile", "Dockerfile")))
    check(os.path.isfile(df), "%s: Dockerfile %s exists" % (name, rel(df)))
    allowed = rel(df) == "Dockerfile.ha" or rel(df).startswith("examples/compose/")
    check(allowed, "%s: built by Dockerfile.ha or a Dockerfile in examples/compose" % name, rel(df))
    if os.path.isfile(df):
        facts = dockerfile_facts(df)
        built[svc.get("image", "<service %s>" % name)] = facts
        svc["_facts"] = facts

for name, svc in services.items():
    image = svc.get("image")
    if "build" not in svc:
        check(image in built, "%s: image %s is built by a service of this file (no registry)" % (name, image),
              "built: %s" % ", ".join(built))
        svc["_facts"] = built.get(image)
    facts = svc.get("_facts") or {"copies": set(), "packages": set(), "expose": set(), "stopsignal": None}

    # Volumes: bind sources exist; named volumes are declared.
    targets = set()
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            src_, dst, kind = v.get("source"), v.get("target"), v.get("type", "volume")
        else:
            parts = v.split(":")
            src_, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
            kind = "bind" if src_.startswith((".", "/", "~")) else "volume"
        targets.add(dst)
        if kind == "bind":
            p = os.path.normpath(os.path.join(base, src_))
            check(os.path.exists(p), "%s: mounted %s exists" % (name, rel(p)))
        else:
            check(src_ in named_volumes, "%s: volume %s is declared" % (name, src_), named_volumes)

    # Programs run by the entrypoint, command and health check.
    def argv(x):
        if x is None: return []
        return shlex.split(x) if isinstance(x, str) else [str(a) for a in x]
    runs = []
    ep, cmd = argv(svc.get("entrypoint")), argv(svc.get("command"))
    for a in (ep[:1] + [w for w in ep[1:] + cmd if w.startswith("/")]):
        runs.append(a)
    hc = argv((svc.get("healthcheck") or {}).get("test"))
    if hc and hc[0] == "CMD":
        runs.append(hc[1])
    elif hc and hc[0] == "CMD-SHELL":
        runs.append(shlex.split(hc[1])[0])
    base_system = {"/bin/bash", "/bin/sh", "/usr/bin/env", "bash", "sh"}
    for prog in runs:
        found = (prog in base_system or prog in targets or prog in facts["copies"]
                 or prog in facts["packages"] or os.path.basename(prog) in facts["packages"]
                 or any(c.endswith("/" + prog) for c in facts["copies"]))
        check(found, "%s: %s is mounted, copied or installed by the image" % (name, prog))

    # Published ports are the image's.
    for p in svc.get("ports") or []:
        target = str(p.get("target")) if isinstance(p, dict) else str(p).split(":")[-1].split("/")[0]
        check(target in facts["expose"], "%s: published port %s is EXPOSEd by the image" % (name, target),
              sorted(facts["expose"]))

    # Knobs: every HASERF_* name is one the glue reads.
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    for k in env:
        if k.startswith("HASERF_"):
            check(k in knobs or k.startswith("HASERF_SELECT_"), "%s: %s is a knob of the glue" % (name, k))

    # A replaced entrypoint gets a stop signal of its own: the image's SIGUSR1 is HAProxy's.
    if "entrypoint" in svc and facts.get("stopsignal") == "SIGUSR1":
        check(svc.get("stop_signal") in ("SIGTERM", "SIGINT"),
              "%s: its own entrypoint stops on SIGTERM/SIGINT, not the image's SIGUSR1" % name,
              svc.get("stop_signal"))

    rep = (svc.get("deploy") or {}).get("replicas")
    if rep is not None:
        check(isinstance(rep, int) and rep >= 1, "%s: deploy.replicas is a positive integer (%s)" % (name, rep))

check(any((s.get("deploy") or {}).get("replicas", 1) > 1 for s in services.values()),
      "some service scales with deploy.replicas")
EOF
[ -s "$TMP/py.err" ] && fail "the compose checks run" "$(cat "$TMP/py.err")"
while IFS=$'\t' read -r status desc detail; do
  if [ "$status" = ok ]; then pass "$desc"; else fail "$desc" "$detail"; fi
done <"$TMP/results"
finish
