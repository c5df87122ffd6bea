#include "worker_fds.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define KEEP_MAX 256

static int kept[KEEP_MAX + 1]; /* sorted, ascending */
static int n_kept;

static void keep_insert(int fd)
{
    int i = n_kept;
    while (i > 0 && kept[i - 1] > fd) {
        kept[i] = kept[i - 1];
        i--;
    }
    kept[i] = fd;
    n_kept++;
}

int worker_fds_record(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        log_alert("opendir(/proc/self/fd) failed: %s", strerror(errno));
        return -1;
    }
    n_kept = 0;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        int fd = atoi(e->d_name);
        /* The error log is reopened on signals, so its number may later name a client socket. */
        if (fd == self || (fd == log_fd() && fd > 2)) continue;
        if (n_kept == KEEP_MAX) {
            log_alert("more than %d file descriptors open at startup", KEEP_MAX);
            closedir(d);
            return -1;
        }
        keep_insert(fd);
    }
    closedir(d);
    return 0;
}

int worker_fds_close_others(const int *keep, int n_keep)
{
    int list[KEEP_MAX + 3];
    int n = 0;
    for (int i = 0; i < n_kept; i++)
        list[n++] = kept[i];
    for (int k = 0; k < n_keep && k < 2; k++) {
        /* insert keep[k] in order (the recorded list is sorted) */
        int i = n;
        while (i > 0 && list[i - 1] > keep[k]) {
            list[i] = list[i - 1];
            i--;
        }
        list[i] = keep[k];
        n++;
    }
    /* Close the gaps between kept fds, then everything past the last one; stdio always stays. */
    unsigned next = 3;
    for (int i = 0; i < n; i++) {
        if (list[i] < 0) continue;
        unsigned k = (unsigned)list[i];
        if (k < next) continue;
        if (k > next && close_range(next, k - 1, 0) < 0) return -1;
        next = k + 1;
    }
    return close_range(next, ~0U, 0);
}
