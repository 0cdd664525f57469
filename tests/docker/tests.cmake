# SPDX-License-Identifier: MIT
# Dockerfile.ha and examples/compose, without a Docker engine (included by tests/CMakeLists.txt).

# The image built with buildah (base images made locally by scripts/base-images.sh, cached)
# and run from its root: non-root HAProxy 3.0 + the Lua 5.4 module, 2 real serf agents,
# health check, reload, STOPSIGNAL. 127.0.20.0/24. About 2.5 minutes (it runs alone:
# RUN_SERIAL), +2 minutes once for the base images; skipped (77) only when buildah cannot run
# at all.
add_test(NAME docker.image
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/docker/image_test.sh
                 ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
# RUN_SERIAL: its compile takes both cores; timing-sensitive tests beside it (a leave that must
# reach serf, reloads under load) starved and failed once in CI.
set_tests_properties(docker.image PROPERTIES LABELS "integration;slow;docker" TIMEOUT 1500
                     SKIP_RETURN_CODE 77 RESOURCE_LOCK container-storage RUN_SERIAL TRUE)

# examples/compose/compose.yaml parses, and every file, build context and image it names
# exists or is built (no engine needed; a second).
add_test(NAME docker.compose
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/docker/compose_test.sh
                 ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(docker.compose PROPERTIES LABELS "integration;docker" TIMEOUT 60)
