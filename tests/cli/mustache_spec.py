#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the mustache spec's core modules through the haserf CLI.

usage: mustache_spec.py HASERF SPEC_DIR

Each case becomes files (template, data JSON, one NAME.mustache per partial) in a temporary
folder and one `haserf render -t T --data D --partials P --escape html --missing-partial empty`
run; the same flags for every case (the spec's rules: HTML escaping, and a missing partial
renders as the empty string). Prints each failure with expected and actual output; exits 1
if any case fails, 0 when all pass.
"""
import json
import os
import subprocess
import sys
import tempfile

MODULES = ["comments", "delimiters", "interpolation", "inverted", "partials", "sections"]


def run_case(haserf, case, work):
    template = os.path.join(work, "template.mustache")
    data = os.path.join(work, "data.json")
    partials = os.path.join(work, "partials")
    os.makedirs(partials, exist_ok=True)
    for name in os.listdir(partials):
        os.unlink(os.path.join(partials, name))
    with open(template, "w", encoding="utf-8", newline="") as f:
        f.write(case["template"])
    with open(data, "w", encoding="utf-8") as f:
        json.dump(case["data"], f)
    for name, text in case.get("partials", {}).items():
        with open(os.path.join(partials, name + ".mustache"), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    proc = subprocess.run(
        [haserf, "render", "-t", template, "--data", data, "--partials", partials,
         "--escape", "html", "--missing-partial", "empty"],
        capture_output=True, timeout=20)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def main():
    haserf, spec_dir = sys.argv[1], sys.argv[2]
    total = failed = 0
    with tempfile.TemporaryDirectory(prefix="haserf-spec-") as work:
        for module in MODULES:
            with open(os.path.join(spec_dir, module + ".json"), encoding="utf-8") as f:
                spec = json.load(f)
            passed = 0
            for case in spec["tests"]:
                total += 1
                rc, out, err = run_case(haserf, case, work)
                if rc == 0 and out == case["expected"]:
                    passed += 1
                    continue
                failed += 1
                print(f"FAIL {module}: {case['name']} ({case['desc']})")
                print(f"  template: {case['template']!r}")
                print(f"  expected: {case['expected']!r}")
                print(f"  actual:   {out!r} (exit {rc}) {err.strip()}")
            print(f"{module}: {passed}/{len(spec['tests'])}")
    print(f"mustache spec: {total - failed}/{total} cases pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
