/* -tt: the loaded configuration printed as php-fpm's fpm_conf_dump() prints it, one NOTICE line
 * per key, so a php-fpm.conf dumps byte for byte as under php-fpm 8.2 (Linux build: no
 * listen.setfib line, with the listen.acl_* and systemd_interval lines). phpmgr's own keys follow
 * php-fpm's in their section, only those a file set. */
#ifndef PHPMGR_CONFIG_DUMP_H
#define PHPMGR_CONFIG_DUMP_H

#include "config.h"

/* Log the dump through log_notice(). force_daemon is -D (1), -F (0) or neither (-1): php-fpm
 * prints daemonize as the command line leaves it. */
void config_dump(const struct config *cfg, int force_daemon);

#endif
