/* phpmgr's version, shared by the manager and the SAPI (PHP constant PHPMGR_VERSION). */
#ifndef PHPMGR_VERSION_H
#define PHPMGR_VERSION_H
#define PHPMGR_VERSION_STRING "0.1.0"
#endif
