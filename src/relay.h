/* The relay: a worker's output and the end (or failure) of its request, on their way to the
 * client connection. The pool never calls into a connection from inside its own completions: it
 * queues output and news on the request, and the loop hands them over with relay_deliver() after
 * each completion batch, so a connection can answer, submit its next request or close without
 * any pool code below it on the stack. */
#ifndef PHPMGR_RELAY_H
#define PHPMGR_RELAY_H

/* Hand queued worker output and news to their connections (after each completion batch). Returns
 * 1 when there was anything to deliver. */
int relay_deliver(void);

#endif
