# SPDX-License-Identifier: MIT
# Debian packages with CPack (`make deb`: scripts/make-deb.sh). One package per install
# component; dependencies on system libraries come from dpkg-shlibdeps, so the packages fit
# the release they are built on (Debian 12 here, 13 in a Debian 13 build).
#   haserf          the CLI (agent, render, members, ...), its docs
#   haserf-haproxy  the Lua modules for Lua 5.3 and 5.4 and the glue HAProxy loads
#   libhaserf0      the C library
#   libhaserf-dev   haserf.h, pkg-config and CMake files
set(CPACK_GENERATOR DEB)
# Values reach cpack as written (quotes in the descriptions); each description is one string
# (string(CONCAT): a list would put ';' into the package's Description).
set(CPACK_VERBATIM_VARIABLES ON)
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
string(CONCAT CPACK_COMPONENT_CLI_DESCRIPTION
    "Serf cluster member, serf agent drop-in and mustache renderer for HAProxy\n"
    "haserf speaks the Serf/memberlist gossip protocol (serf 0.9.4 and 0.10.x agents accept\n"
    "it). `haserf agent` replaces `serf agent` on backends (same config, handlers, RPC);\n"
    "`haserf render` turns the membership into haproxy.cfg through mustache templates.")
# procps: /bin/kill for the agent unit's ExecReload.
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "haserf-haproxy")

set(CPACK_DEBIAN_HAPROXY_PACKAGE_NAME haserf-haproxy)
string(CONCAT CPACK_COMPONENT_HAPROXY_DESCRIPTION
    "HAProxy as a Serf cluster member (Lua module and glue)\n"
    "The Lua module (require \"haserf\", for Lua 5.3 and 5.4) and the glue HAProxy loads with\n"
    "lua-load /usr/share/haserf/haserf-haproxy.lua: members fill server-template slots\n"
    "without reloads; structural changes are validated reloads.")
set(CPACK_DEBIAN_HAPROXY_PACKAGE_RECOMMENDS "haproxy (>= 2.6)")
set(CPACK_DEBIAN_HAPROXY_PACKAGE_SUGGESTS "haserf")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libhaserf0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
string(CONCAT CPACK_COMPONENT_LIB_DESCRIPTION
    "Serf cluster member for C programs (library)\n"
    "One Serf/memberlist member per process, its membership as serf's JSON, mustache\n"
    "rendering and user events, behind a small C API (haserf.h).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libhaserf-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
string(CONCAT CPACK_COMPONENT_DEV_DESCRIPTION
    "Serf cluster member for C programs (development files)\n"
    "haserf.h, pkg-config's haserf.pc and CMake's find_package(haserf) (haserf::haserf).")

# /usr/share/doc/PACKAGE/copyright in every package, in Debian's machine-readable format
# (DEP-5, copyright-format 1.0), made here from the files that hold the terms: LICENSE for
# haserf, and mstch's own LICENSE (from its unpacked source package, third_party/mstch) for
# the mustache engine linked into the CLI, the Lua modules and the C library. Rewritten at
# configure time when either changes. Installed only by per-component installs (CPack's;
# EXCLUDE_FROM_ALL), so a plain `cmake --install` does not get four doc folders.
# haserf_license_fields(FILE COPYRIGHT_VAR TEXT_VAR): the "Copyright (c) ..." line of a
# LICENSE file (without "Copyright (c)") and the text after it, as DEP-5 wants it in a field:
# every line indented by one space, empty lines written " .".
function(haserf_license_fields file copyright_var text_var)
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "packaging: ${file} is missing (needed for debian/copyright)")
  endif()
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  file(READ "${file}" text)
  string(REPLACE "\r" "" text "${text}")
  if(NOT text MATCHES "(^|\n)Copyright ([(][cC][)] )?([^\n]+)\n(.*)$")
    message(FATAL_ERROR "packaging: no 'Copyright (c) YEAR HOLDER' line in ${file}")
  endif()
  set(copyright "${CMAKE_MATCH_3}")
  set(text "${CMAKE_MATCH_4}")
  string(REGEX REPLACE "[ \t]+\n" "\n" text "${text}")
  string(STRIP "${text}" text)
  if(text STREQUAL "")
    message(FATAL_ERROR "packaging: no licence text after the copyright line in ${file}")
  endif()
  string(REGEX REPLACE "\n\n" "\n.\n" text "${text}")
  string(REGEX REPLACE "\n\n" "\n.\n" text "${text}")
  string(REPLACE "\n" "\n " text " ${text}")
  string(STRIP "${copyright}" copyright)
  set(${copyright_var} "${copyright}" PARENT_SCOPE)
  set(${text_var} "${text}" PARENT_SCOPE)
endfunction()
haserf_license_fields("${PROJECT_SOURCE_DIR}/LICENSE" HASERF_COPYRIGHT HASERF_LICENSE_TEXT)
# mstch's unpacked source: where its target's sources are (third_party/mstch/CMakeLists.txt).
get_target_property(_mstch_sources mstch SOURCES)
list(FILTER _mstch_sources INCLUDE REGEX "/src/mstch[.]cpp$")
cmake_path(GET _mstch_sources PARENT_PATH _mstch_dir)
cmake_path(GET _mstch_dir PARENT_PATH _mstch_dir)
cmake_path(GET _mstch_dir FILENAME HASERF_MSTCH_DIRNAME)
string(REGEX REPLACE "^mstch-" "" HASERF_MSTCH_VERSION "${HASERF_MSTCH_DIRNAME}")
haserf_license_fields("${_mstch_dir}/LICENSE" HASERF_MSTCH_COPYRIGHT HASERF_MSTCH_LICENSE_TEXT)
configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/copyright.in
               ${PROJECT_BINARY_DIR}/packaging/debian/copyright @ONLY)
foreach(_comp_pkg cli:haserf haproxy:haserf-haproxy lib:libhaserf0 dev:libhaserf-dev)
  string(REPLACE ":" ";" _comp_pkg "${_comp_pkg}")
  list(GET _comp_pkg 0 _comp)
  list(GET _comp_pkg 1 _pkg)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/debian/copyright
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg} COMPONENT ${_comp} EXCLUDE_FROM_ALL)
endforeach()
include(CPack)
