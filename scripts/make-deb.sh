#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make deb: Release build installed under /usr, tests off, packed by CPack
# (cmake/packaging.cmake) into BUILD_DIR (default build-deb). Prints the .deb paths.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$SRC/build-deb}
JOBS=${JOBS:-$(nproc)}
# CPack takes the packages' dependencies on system libraries (libuv1 on Debian 12, libuv1t64
# on 13, ...) from dpkg-shlibdeps (dpkg-dev) and finds the binaries with `file`. Without
# dpkg-shlibdeps it would quietly make packages without those dependencies.
for tool in dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null ||
    { echo "make-deb: $tool is missing (apt-get install dpkg-dev file)" >&2; exit 1; }
done
cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF ${HASERF_COMMIT:+-DHASERF_COMMIT=$HASERF_COMMIT} >/dev/null
cmake --build "$OUT" -j "$JOBS" >/dev/null
rm -f "$OUT"/*.deb
(cd "$OUT" && cpack -G DEB >/dev/null)
ls "$OUT"/*.deb
