#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int log_out = STDERR_FILENO;
static enum log_level log_min = LOG_LVL_NOTICE;
static int log_bare;

static const char *const level_names[] = {"DEBUG", "NOTICE", "WARNING", "ERROR", "ALERT"};

int log_open(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        if (log_out != STDERR_FILENO) close(log_out);
        log_out = STDERR_FILENO;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    if (log_out != STDERR_FILENO) close(log_out);
    log_out = fd;
    return 0;
}

void log_set_level(enum log_level min_level)
{
    log_min = min_level;
}

int log_level_parse(const char *name)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0) return (int)i;
    return -1;
}

void log_set_bare(int bare)
{
    log_bare = bare;
}

int log_fd(void)
{
    return log_out;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_min) return;
    int saved_errno = errno;
    char line[2048];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    size_t n = log_bare ? 0 : strftime(line, sizeof(line), "[%d-%b-%Y %H:%M:%S] ", &tm);
    int m = snprintf(line + n, sizeof(line) - n, "%s: ", level_names[level]);
    n += (size_t)m;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    n += (size_t)k;
    if (n > sizeof(line) - 2) n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line; a short write to a log is not worth a retry loop that could block. */
    ssize_t w = write(log_out, line, n);
    (void)w;
    errno = saved_errno;
}
