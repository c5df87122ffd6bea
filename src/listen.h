/* Listening sockets as php-fpm's `listen` describes them: "/path.sock", "host:port",
 * "[::1]:port" or a bare "port" (every address, IPv6 with IPv4 mapped), with listen.owner/group/
 * mode for unix sockets (names or numbers) and listen.allowed_clients checked on accept. */
#ifndef PHPMGR_LISTEN_H
#define PHPMGR_LISTEN_H

#include <netinet/in.h>
#include <sys/socket.h>

struct listen_opts {
    const char *address;
    int backlog;       /* as listen(2): negative means the system's maximum (somaxconn) */
    const char *owner; /* unix sockets only; NULL: leave */
    const char *group;
    int mode; /* -1: leave */
};

/* Bind and listen (non-blocking, close-on-exec). Returns the fd, or -1 with a message in err.
 * An existing unix socket file is removed first, as php-fpm does. */
int listen_open(const struct listen_opts *o, char *err, size_t errlen);

/* Remove the socket file of a unix listen address (at exit). */
void listen_cleanup(const char *address);

/* Allowed-clients list: addresses parsed once; a peer outside it is refused. */
struct allowed_clients {
    struct sockaddr_storage *addrs;
    size_t n;
};

/* Parse a NULL-terminated list of IPv4/IPv6 addresses. 0, or -1 with err. */
int allowed_clients_parse(char *const *list, struct allowed_clients *out, char *err, size_t errlen);
/* 1 when peer may connect: always for unix sockets or an empty list; an IPv4-mapped peer
 * (::ffff:a.b.c.d on a dual-stack listener) matches the entry a.b.c.d and the other way round. */
int allowed_clients_match(const struct allowed_clients *ac, const struct sockaddr *peer,
                          socklen_t len);
/* allowed_clients_match() for fd's peer; 0 when the peer cannot be read. */
int allowed_clients_check(const struct allowed_clients *ac, int fd);
void allowed_clients_free(struct allowed_clients *ac);

#endif
