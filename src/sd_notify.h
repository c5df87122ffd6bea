/* systemd's notify protocol (a unit with Type=notify), spoken as php-fpm built with systemd
 * speaks it: READY=1 with MAINPID when the master serves, then every systemd_interval a STATUS
 * line with the workers and requests (plus WATCHDOG=1 when the unit sets WatchdogSec, at half
 * its period). Datagrams to $NOTIFY_SOCKET; without it nothing is sent, the log lines are the
 * same. No fd is kept open between messages: forked workers never inherit one. */
#ifndef PHPMGR_SD_NOTIFY_H
#define PHPMGR_SD_NOTIFY_H

/* Read WATCHDOG_USEC against the systemd_interval key (ms, 0 off, -1 unset: 10 s); returns the
 * interval the master ticks at, 0 for none (config.c has logged php-fpm's watchdog notice). */
int sd_notify_configure(int systemd_interval_ms);
/* READY=1, once the listeners are armed; logs "systemd monitor interval set to N ms". */
void sd_notify_ready(void);
/* The periodic status, counted over every pool. */
void sd_notify_status(unsigned active, unsigned idle, unsigned long requests, unsigned long slow,
                      unsigned long requests_before, int interval_ms);

#endif
