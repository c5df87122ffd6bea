/* Process limits from the configuration, applied as php-fpm applies them: the global
 * rlimit_files, rlimit_core and process.priority to the master at start (inherited by what it
 * forks), the pool's to each of its workers before they drop privileges. */
#ifndef PHPMGR_PROC_LIMITS_H
#define PHPMGR_PROC_LIMITS_H

struct global_config;
struct pool_config;

/* 0, or -1 after logging php-fpm's error line (the master must not start). */
int proc_limits_master(const struct global_config *g);
/* In a new worker, still root when the master was: 0, or -1 after logging (it must exit). A
 * limit the system refuses is logged and the worker goes on, as in php-fpm. */
int proc_limits_worker(const struct pool_config *p);

#endif
