# SPDX-License-Identifier: MIT
# Debian packages with CPack (`make deb`: scripts/make-deb.sh). One package per install
# component; dependencies on system libraries come from dpkg-shlibdeps, so the packages fit
# the release they are built on (Debian 12 here, 13 in a Debian 13 build).
#   haserf          the CLI (agent, render, members, ...), its docs
#   haserf-haproxy  the Lua modules for Lua 5.3 and 5.4 and the glue HAProxy loads
#   libhaserf0      the C library
#   libhaserf-dev   haserf.h, pkg-config and CMake files
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME haserf)
set(CPACK_PACKAGE_VENDOR "The haserf authors")
set(CPACK_PACKAGE_CONTACT "The haserf authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL cli haproxy lib dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME haserf)
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "Serf cluster member, serf agent drop-in and mustache renderer for HAProxy\n"
    "haserf speaks the Serf/memberlist gossip protocol (serf 0.9.4 and 0.10.x agents accept\n"
    "it). `haserf agent` replaces `serf agent` on backends (same config, handlers, RPC);\n"
    "`haserf render` turns the membership into haproxy.cfg through mustache templates.")
# procps: /bin/kill for the agent unit's ExecReload.
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "haserf-haproxy")

set(CPACK_DEBIAN_HAPROXY_PACKAGE_NAME haserf-haproxy)
set(CPACK_COMPONENT_HAPROXY_DESCRIPTION
    "HAProxy as a Serf cluster member (Lua module and glue)\n"
    "The Lua module (require \"haserf\", for Lua 5.3 and 5.4) and the glue HAProxy loads with\n"
    "lua-load /usr/share/haserf/haserf-haproxy.lua: members fill server-template slots\n"
    "without reloads; structural changes are validated reloads.")
set(CPACK_DEBIAN_HAPROXY_PACKAGE_RECOMMENDS "haproxy (>= 2.6)")
set(CPACK_DEBIAN_HAPROXY_PACKAGE_SUGGESTS "haserf")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libhaserf0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_LIB_DESCRIPTION
    "Serf cluster member for C programs (library)\n"
    "One Serf/memberlist member per process, its membership as serf's JSON, mustache\n"
    "rendering and user events, behind a small C API (haserf.h).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libhaserf-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "Serf cluster member for C programs (development files)\n"
    "haserf.h, pkg-config's haserf.pc and CMake's find_package(haserf) (haserf::haserf).")
include(CPack)
