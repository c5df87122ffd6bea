/* The error log, in php-fpm's line format so log watchers keep working:
 *   [23-Nov-2026 07:50:38] NOTICE: ready to handle connections
 *   [23-Nov-2026 07:50:38] WARNING: [pool www] child 123 exited on signal 9 (SIGKILL) ...
 * Writes go straight to the fd with one write(2) per line (O_APPEND), so forked workers can log
 * through the same fd without interleaving lines. */
#ifndef PHPMGR_LOG_H
#define PHPMGR_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_NOTICE, LOG_LVL_WARNING, LOG_LVL_ERROR, LOG_LVL_ALERT };

/* Open path for appending ("syslog" is not supported yet; NULL or "-": stderr). Returns 0 or -1
 * with errno set. May be called again (log reopen on SIGUSR1/SIGHUP). */
int log_open(const char *path);
void log_set_level(enum log_level min_level);
/* Parse "debug", "notice", "warning", "error", "alert"; -1 when unknown. */
int log_level_parse(const char *name);
/* Bare lines ("NOTICE: msg", no timestamp): a worker's log goes through its stderr to the
 * master, which adds the time, as php-fpm's children do. */
void log_set_bare(int bare);
/* The fd lines are written to (for dup2 onto a worker's stderr). */
int log_fd(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_alert(...) log_msg(LOG_LVL_ALERT, __VA_ARGS__)

#endif
