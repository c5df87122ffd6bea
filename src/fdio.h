/* Blocking writes that finish what they start: for the master's temp files and the worker's
 * channel (sapi/ uses it too; it needs no PHP and no ring). */
#ifndef PHPMGR_FDIO_H
#define PHPMGR_FDIO_H

#include <sys/uio.h>

/* Write all of iov[0..n) to fd, retrying short writes and EINTR; iov is consumed. 0, or -1
 * with errno set. */
int fdio_writev_all(int fd, struct iovec *iov, int n);

#endif
