/* Minimal unit-test harness: each CHECK prints a PASS/FAIL line that tests/run.sh counts. */
#ifndef PHPMGR_CHECK_H
#define PHPMGR_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(cond, name)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("PASS: %s\n", name);                                                            \
        } else {                                                                                   \
            printf("FAIL: %s (%s:%d: %s)\n", name, __FILE__, __LINE__, #cond);                    \
            check_failed = 1;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_DONE() (fflush(stdout), check_failed ? 1 : 0)

#endif
