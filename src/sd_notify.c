#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int interval_ms;
static int watchdog;

/* One datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). 0 when sent or
 * when there is no socket to send to, -1 on failure. */
static int notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    ssize_t n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int sd_notify_configure(int systemd_interval_ms)
{
    interval_ms = systemd_interval_ms < 0 ? 10000 : systemd_interval_ms;
    const char *usec = getenv("WATCHDOG_USEC");
    int wd = 0;
    if (usec != NULL) {
        wd = (int)(atol(usec) / 2000L); /* half the period, in ms */
        log_debug("WATCHDOG_USEC=%s, interval=%d", usec, wd);
    }
    if (wd > 1000) { /* config.c has said so, in php-fpm's words */
        watchdog = 1;
        interval_ms = wd;
    }
    return interval_ms;
}

void sd_notify_ready(void)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=Ready to handle connections\nMAINPID=%lu",
             (unsigned long)getpid());
    if (notify(msg) < 0)
        log_warning("failed to notify start to systemd: %s", strerror(errno));
    else if (getenv("NOTIFY_SOCKET") != NULL)
        log_debug("have notify start to systemd");
    if (interval_ms > 0)
        log_notice("systemd monitor interval set to %dms", interval_ms);
    else
        log_notice("systemd monitor disabled");
}

void sd_notify_status(unsigned active, unsigned idle, unsigned long requests, unsigned long slow,
                      unsigned long requests_before, int interval)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "READY=1\n%sSTATUS=Processes active: %u, idle: %u, Requests: %lu, slow: %lu, "
             "Traffic: %.2freq/sec",
             watchdog ? "WATCHDOG=1\n" : "", active, idle, requests, slow,
             (double)(requests - requests_before) * 1000.0 / (interval > 0 ? interval : 1));
    if (notify(msg) < 0) log_notice("failed to notify status to systemd");
}
