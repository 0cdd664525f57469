// SPDX-License-Identifier: MIT
/* The C API from plain C: options, start, members, version, render, events, errors, stop.
 * Prints "N passed, N failed". Usage: c_api_test IP (an unused loopback address). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "haserf.h"

static int passed, failed;

static void check(const char* name, int ok, const char* detail) {
  if (ok) {
    ++passed;
    printf("ok   - %s\n", name);
  } else {
    ++failed;
    printf("FAIL - %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
  }
}

int main(int argc, char** argv) {
  char err[256] = "";
  char bind[64];
  if (argc < 2) return 2;
  snprintf(bind, sizeof bind, "%s:7946", argv[1]);

  check("not started yet", haserf_started() == 0, NULL);
  check("version 0 before start", haserf_version() == 0, NULL);
  check("missing bind is an error",
        haserf_start(NULL, NULL, NULL, NULL, err, sizeof err) == -1 && strstr(err, "bind") != NULL,
        err);
  check("bad tag is an error",
        haserf_start(bind, NULL, NULL, "novalue", err, sizeof err) == -1 &&
            strstr(err, "k=v") != NULL,
        err);
  check("unknown option is an error",
        haserf_set_option("bogus", "1", err, sizeof err) == -1 &&
            strstr(err, "unknown option 'bogus'") != NULL,
        err);
  check("allow option is taken", haserf_set_option("allow", "10.0.0.0/33", err, sizeof err) == 0,
        err);
  check("a bad CIDR fails the start, named",
        haserf_start(bind, "", "c-member", NULL, err, sizeof err) == -1 &&
            strstr(err, "10.0.0.0/33") != NULL,
        err);
  check("not started after a bad option", haserf_started() == 0, NULL);
  check("allow option is set", haserf_set_option("allow", "127.0.0.0/8", err, sizeof err) == 0,
        err);
  check("start", haserf_start(bind, "", "c-member", "role=lb,zone=eu", err, sizeof err) == 0, err);
  check("started", haserf_started() == 1, NULL);
  check("start is idempotent", haserf_start(bind, NULL, NULL, NULL, err, sizeof err) == 0, err);
  check("version moved", haserf_version() > 0, NULL);

  char* json = haserf_members_json();
  check("members json lists us with our tags",
        json && strstr(json, "\"name\": \"c-member\"") && strstr(json, "\"zone\": \"eu\""), json);
  haserf_free(json);

  char* text = haserf_render("{{#alive}}{{name}}:{{tags.role}}{{/alive}}", err, sizeof err);
  check("render", text && strcmp(text, "c-member:lb") == 0, text ? text : err);
  haserf_free(text);
  text = haserf_render("{{#alive}}", err, sizeof err);
  check("render error", text == NULL && strstr(err, "never closed") != NULL, err);

  check("user event", haserf_user_event("hello", "world", 0, err, sizeof err) == 0, err);
  check("user event without a name is an error",
        haserf_user_event(NULL, "x", 0, err, sizeof err) == -1, err);
  check("library version", strlen(haserf_library_version()) > 0, NULL);

  haserf_stop();
  for (int i = 0; i < 50 && haserf_started(); ++i) usleep(100000);
  check("stopped", haserf_started() == 0, NULL);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
