// SPDX-License-Identifier: MIT
// The C API in a dozen lines: start a member, wait for the join, print the members as JSON,
// leave. Build against an installed haserf:
//   cc members.c $(pkg-config --cflags --libs haserf) -o members
//   ./members 127.0.0.1:7946 10.0.0.11:7946
#include <haserf.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BIND_IP:PORT [JOIN,...]\n", argv[0]);
    return 2;
  }
  char err[256];
  if (haserf_start(argv[1], argc > 2 ? argv[2] : NULL, NULL, "role=example", err, sizeof err) != 0) {
    fprintf(stderr, "haserf_start: %s\n", err);
    return 1;
  }
  for (int i = 0; i < 50 && haserf_version() == 0; ++i) usleep(100 * 1000);  // the first members
  char* json = haserf_members_json();
  if (json) {
    printf("%s", json);
    haserf_free(json);
  }
  printf("library %s\n", haserf_library_version());
  haserf_leave();
  haserf_stop();
  return 0;
}
