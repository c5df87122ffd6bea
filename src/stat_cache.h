/* What kind of file a path names (routing asks once or twice per HTTP request), remembered for
 * a short while: a stat() per request was 6 % of the master's cycles under hello-world load.
 * Like nginx's open_file_cache_valid, a file created or removed is seen after at most the TTL;
 * PHP's own realpath cache holds paths far longer (120 s). */
#ifndef PHPMGR_STAT_CACHE_H
#define PHPMGR_STAT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define STAT_CACHE_TTL_MS 1000

/* The kind (enum http_file_kind in http_params.h) of path[0..len), path NUL-terminated. */
int stat_cache_kind(const char *path, size_t len, uint64_t now_ms);

#endif
