#include "proc_limits.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define PRIORITY_UNSET 64 /* php-fpm's marker for process.priority not given */

/* rlimit_files / rlimit_core as configured: 0 (or unset) leaves the limit alone, as php-fpm's
 * zero does; -2 is "unlimited". */
static int set_limit(int resource, int value)
{
    if (value == 0 || value == -1) return 0;
    struct rlimit r;
    r.rlim_cur = r.rlim_max = value == -2 ? RLIM_INFINITY : (rlim_t)value;
    return setrlimit(resource, &r);
}

/* php-fpm's ZLOG_SYSERROR shape: "message: strerror (errno)". */
#define LOG_SYSERROR(fmt, ...)                                                                    \
    log_error(fmt ": %s (%d)", __VA_ARGS__, strerror(errno), errno)

int proc_limits_master(const struct global_config *g)
{
    if (set_limit(RLIMIT_NOFILE, g->rlimit_files) < 0) {
        LOG_SYSERROR("failed to set rlimit_files for this pool. Please check your system limits "
                     "or decrease rlimit_files. setrlimit(RLIMIT_NOFILE, %d)",
                     g->rlimit_files);
        return -1;
    }
    if (set_limit(RLIMIT_CORE, g->rlimit_core) < 0) {
        LOG_SYSERROR("failed to set rlimit_core for this pool. Please check your system limits "
                     "or decrease rlimit_core. setrlimit(RLIMIT_CORE, %d)",
                     g->rlimit_core == -2 ? -1 : g->rlimit_core);
        return -1;
    }
    if (g->process_priority != PRIORITY_UNSET) {
        if (geteuid() != 0) {
            log_notice("'process.priority' directive is ignored when FPM is not running as root");
        } else if (setpriority(PRIO_PROCESS, 0, g->process_priority) < 0) {
            LOG_SYSERROR("%s", "Unable to set priority for the master process");
            return -1;
        }
    }
    return 0;
}

int proc_limits_worker(const struct pool_config *p)
{
    if (set_limit(RLIMIT_NOFILE, p->rlimit_files) < 0)
        LOG_SYSERROR("[pool %s] failed to set rlimit_files for this pool. Please check your system "
                     "limits or decrease rlimit_files. setrlimit(RLIMIT_NOFILE, %d)",
                     p->name, p->rlimit_files);
    if (set_limit(RLIMIT_CORE, p->rlimit_core) < 0)
        LOG_SYSERROR("[pool %s] failed to set rlimit_core for this pool. Please check your system "
                     "limits or decrease rlimit_core. setrlimit(RLIMIT_CORE, %d)",
                     p->name, p->rlimit_core == -2 ? -1 : p->rlimit_core);
    if (p->process_priority != PRIORITY_UNSET && geteuid() == 0 &&
        setpriority(PRIO_PROCESS, 0, p->process_priority) < 0) {
        LOG_SYSERROR("[pool %s] Unable to set priority for this new process", p->name);
        return -1;
    }
    return 0;
}
