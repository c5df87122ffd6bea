/* The file descriptors the master owns (listeners, client sockets, worker channels and pipes,
 * signalfd). A forked worker closes exactly these: closing every fd would also close what the PHP
 * engine opened at startup in the master (OPcache's lock file), and leaving a client socket open
 * in a worker would keep that client waiting after the master closed it. */
#ifndef PHPMGR_FDREG_H
#define PHPMGR_FDREG_H

/* Record fd as the master's; 0, or -1 when out of memory (logged; the caller closes fd). */
int fdreg_add(int fd);
/* Forget fd (call before closing it). */
void fdreg_del(int fd);
/* In a forked child: close every recorded fd except keep. */
void fdreg_close_all_in_child(int keep);

#endif
