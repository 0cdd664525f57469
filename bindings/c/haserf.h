// SPDX-License-Identifier: MIT
/* haserf C API: a Serf cluster member for embedders that are not Lua (docs/c-api.md).
 *
 * One member per process, shared with the Lua module when both are loaded. Every function
 * is thread-safe, returns quickly (no network waits) and never lets a C++ exception out.
 * Strings returned as `char*` are owned by the caller and freed with haserf_free(). */
#ifndef HASERF_H
#define HASERF_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define HASERF_API __attribute__((visibility("default")))
#else
#define HASERF_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Starts the member. `bind` is "IP:PORT" (required); `join` a comma-separated list of
 * "IP[:PORT]" (may be NULL or ""); `node` the node name (NULL: host name); `tags`
 * "k=v,k=v" (may be NULL). Returns 0, or -1 with a message in err[errlen]. Idempotent. */
HASERF_API int haserf_start(const char* bind, const char* join, const char* node, const char* tags,
                            char* err, size_t errlen);

/* Sets an option for the next haserf_start() (not the running member). `name`: "advertise"
 * ("IP[:PORT]"), "encrypt" (a base64 key, as `serf keygen` prints), "keyring_file" (serf's
 * keyring file), "allow" (comma-separated CIDRs: only these sources may reach the gossip
 * port, docs/security.md), "snapshot_file" (serf's -snapshot), "profile" ("lan", "wan",
 * "local"). NULL or "" as `value` resets it. Values are checked by haserf_start(). Returns 0,
 * or -1 with a message in err[errlen] for an unknown name. */
HASERF_API int haserf_set_option(const char* name, const char* value, char* err, size_t errlen);

/* 1 when a member runs in this process. */
HASERF_API int haserf_started(void);

/* Members as `serf members -format=json` prints them. Never NULL (on allocation failure:
 * NULL). Free with haserf_free(). */
HASERF_API char* haserf_members_json(void);

/* The membership table version; changes with every membership change. 0 before start. */
HASERF_API uint64_t haserf_version(void);

/* Renders a mustache template (text) with the current members (docs/templates.md).
 * Returns the text, or NULL with a message in err[errlen]. Free with haserf_free(). */
HASERF_API char* haserf_render(const char* template_text, char* err, size_t errlen);

/* Gossips a user event. Returns 0, or -1 with a message in err[errlen]. */
HASERF_API int haserf_user_event(const char* name, const char* payload, int coalesce, char* err,
                                 size_t errlen);

/* Graceful leave, asynchronous. */
HASERF_API void haserf_leave(void);

/* Stops the member without leaving, asynchronous. */
HASERF_API void haserf_stop(void);

HASERF_API void haserf_free(char* p);

/* Library version, e.g. "0.1.0". */
HASERF_API const char* haserf_library_version(void);

#ifdef __cplusplus
}
#endif

#endif /* HASERF_H */
