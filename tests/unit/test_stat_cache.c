/* Unit tests for src/stat_cache.c: the kind of a path, remembered for STAT_CACHE_TTL_MS and
 * looked up again after it (the caller's clock is passed in, so no test waits). */
#include "check.h"
#include "http_params.h"
#include "stat_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int kind(const char *path, uint64_t now)
{
    return stat_cache_kind(path, strlen(path), now);
}

int main(void)
{
    char dir[] = "/tmp/phpmgr-stat-cache-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char file[256], sub[256], missing[256], longp[512];
    snprintf(file, sizeof file, "%s/a.php", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    FILE *f = fopen(file, "w");
    if (f == NULL || mkdir(sub, 0700) < 0) {
        perror("setup");
        return 1;
    }
    fclose(f);

    uint64_t t = 1000000;
    CHECK(kind(file, t) == HTTP_FILE_REGULAR, "a file is regular");
    CHECK(kind(sub, t) == HTTP_FILE_DIR, "a directory is a directory");
    CHECK(kind(missing, t) == HTTP_FILE_NONE, "a missing path is none");
    CHECK(kind("/dev/null", t) == HTTP_FILE_OTHER, "a device is other");

    /* Changes inside the TTL are not seen; after it they are. */
    unlink(file);
    f = fopen(missing, "w");
    if (f) fclose(f);
    CHECK(kind(file, t + STAT_CACHE_TTL_MS - 1) == HTTP_FILE_REGULAR,
          "a removed file is still regular within the TTL");
    CHECK(kind(missing, t + STAT_CACHE_TTL_MS - 1) == HTTP_FILE_NONE,
          "a created file is still none within the TTL");
    CHECK(kind(file, t + STAT_CACHE_TTL_MS) == HTTP_FILE_NONE,
          "a removed file is none once the TTL is over");
    CHECK(kind(missing, t + STAT_CACHE_TTL_MS) == HTTP_FILE_REGULAR,
          "a created file is regular once the TTL is over");

    /* A path that shares a prefix or a hash slot never takes another's answer. */
    CHECK(kind(dir, t) == HTTP_FILE_DIR && kind(sub, t) == HTTP_FILE_DIR &&
              kind(missing, t + STAT_CACHE_TTL_MS) == HTTP_FILE_REGULAR,
          "prefix paths keep their own answers");
    int mixed = 0;
    for (int i = 0; i < 2000; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/none-%d", dir, i);
        if (kind(p, t) != HTTP_FILE_NONE) mixed++;
        if (kind(sub, t) != HTTP_FILE_DIR) mixed++;
    }
    CHECK(mixed == 0, "2000 paths through 512 slots: every answer is its own path's");

    /* Paths too long to cache are looked up every time. */
    memset(longp, 0, sizeof longp);
    snprintf(longp, sizeof longp, "%s/", sub);
    size_t n = strlen(longp);
    memset(longp + n, 'x', 250); /* past the cache's room, within NAME_MAX */
    CHECK(kind(longp, t) == HTTP_FILE_NONE, "a long missing path is none");
    f = fopen(longp, "w");
    if (f == NULL) {
        perror("creating the long path");
        return 1;
    }
    fclose(f);
    CHECK(kind(longp, t) == HTTP_FILE_REGULAR, "a long path is not cached");

    unlink(longp);
    unlink(missing);
    rmdir(sub);
    rmdir(dir);
    return CHECK_DONE();
}
