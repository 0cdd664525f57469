#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Man pages from the CLI's own --help (help2man): haserf(1) and haserf-COMMAND(1) for every
# command `haserf --help` lists, so the pages never drift from the binary.
# Usage: make-man.sh HASERF_BINARY OUT_DIR VERSION
set -euo pipefail
HASERF=$(readlink -f "$1")
OUT=$2
VERSION=$3
command -v help2man >/dev/null || { echo "make-man: help2man is missing" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Our help says "usage:"/"options:"; help2man's sections want them capitalised.
wrapper() {  # NAME [COMMAND]
  {
    echo '#!/bin/sh'
    echo "\"$HASERF\" $2 \"\$@\" | sed -e 's/^usage:/Usage:/' -e 's/^options:/Options:/' -e 's/^commands:/Commands:/'"
  } >"$WORK/$1"
  chmod +x "$WORK/$1"
}

commands=$("$HASERF" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' |
  grep -v '^version$')
see_also="haserf(1)"
for c in $commands; do see_also+=", haserf-$c(1)"; done
printf '[SEE ALSO]\n%s, serf(1), haproxy(1).\n\nThe documentation in /usr/share/doc/haserf and the project'"'"'s docs/ folder.\n' \
  "$see_also" >"$WORK/see-also.h2m"

wrapper haserf ""
help2man --no-info --no-discard-stderr --version-string="$VERSION" \
  --name "HAProxy as a member of a Serf cluster: agent, renderer, serf CLI stand-in" \
  --include "$WORK/see-also.h2m" "$WORK/haserf" >"$OUT/haserf.1"
for c in $commands; do
  desc=$("$HASERF" --help | awk -v c="$c" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
  wrapper "haserf-$c" "$c"
  help2man --no-info --no-discard-stderr --version-string="$VERSION" --name "$desc" \
    --include "$WORK/see-also.h2m" "$WORK/haserf-$c" >"$OUT/haserf-$c.1"
done
