#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A uid or gid written as digits ("33"), as php-fpm accepts them. 1 when s is one. */
static int parse_id(const char *s, unsigned long *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s)) return 0;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno != 0 || v >= UINT32_MAX) return 0; /* (uid_t)-1 means "unchanged" to chown */
    *out = v;
    return 1;
}

static int is_unix_address(const char *a)
{
    return a[0] == '/' || a[0] == '.';
}

/* Split "host:port", "[v6]:port" or "port" into a sockaddr. */
static int parse_inet(const char *address, struct sockaddr_storage *ss, socklen_t *len, char *err,
                      size_t errlen)
{
    char host[256];
    const char *port;
    const char *colon = strrchr(address, ':');
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - address - 1) >= sizeof(host)) {
            snprintf(err, errlen, "invalid listen address '%s'", address);
            return -1;
        }
        memcpy(host, address + 1, (size_t)(close - address - 1));
        host[close - address - 1] = 0;
        port = close + 2;
    } else if (colon != NULL) {
        if ((size_t)(colon - address) >= sizeof(host)) {
            snprintf(err, errlen, "invalid listen address '%s'", address);
            return -1;
        }
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = 0;
        port = colon + 1;
    } else {
        host[0] = 0; /* bare port: every address */
        port = address;
    }
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (*port == 0 || *end != 0 || errno != 0 || p < 1 || p > 65535) {
        snprintf(err, errlen, "invalid port in listen address '%s'", address);
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    if (host[0] == 0 || strcmp(host, "*") == 0) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*s6);
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        *len = sizeof(*s6);
        return 0;
    }
    /* A host name, as php-fpm allows ("localhost:9000"): resolve once at startup. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve '%s' in listen address '%s': %s", host, address,
                 gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    if (ss->ss_family == AF_INET)
        s4->sin_port = htons((uint16_t)p);
    else
        s6->sin6_port = htons((uint16_t)p);
    freeaddrinfo(res);
    return 0;
}

static int open_unix(const struct listen_opts *o, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(o->address) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "unix socket path too long: '%s'", o->address);
        return -1;
    }
    strcpy(sun.sun_path, o->address);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    if (unlink(o->address) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "unlink('%s'): %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    /* Create it with no access, then set mode and owner, so nobody connects in between. */
    mode_t old = umask(0777);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "unable to bind listening socket for address '%s': %s", o->address,
                 strerror(errno));
        close(fd);
        return -1;
    }
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    unsigned long id;
    /* php-fpm's fpm_unix_resolve_socket_permissions(): a number is taken as is; a user name
     * also gives its primary group unless listen.group says otherwise. */
    if (o->owner != NULL && o->owner[0]) {
        if (parse_id(o->owner, &id)) {
            uid = (uid_t)id;
        } else {
            struct passwd *pw = getpwnam(o->owner);
            if (pw == NULL) {
                snprintf(err, errlen, "[listen.owner] cannot get uid for user '%s'", o->owner);
                close(fd);
                return -1;
            }
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        }
    }
    if (o->group != NULL && o->group[0]) {
        if (parse_id(o->group, &id)) {
            gid = (gid_t)id;
        } else {
            struct group *gr = getgrnam(o->group);
            if (gr == NULL) {
                snprintf(err, errlen, "[listen.group] cannot get gid for group '%s'", o->group);
                close(fd);
                return -1;
            }
            gid = gr->gr_gid;
        }
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(o->address, uid, gid) < 0) {
        snprintf(err, errlen, "failed to chown() the socket '%s': %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(o->address, (mode_t)(o->mode >= 0 ? o->mode : 0660)) < 0) {
        snprintf(err, errlen, "failed to chmod() the socket '%s': %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, o->backlog < 0 ? -1 : o->backlog) < 0) {
        snprintf(err, errlen, "failed to listen to address '%s': %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int listen_open(const struct listen_opts *o, char *err, size_t errlen)
{
    if (is_unix_address(o->address)) return open_unix(o, err, errlen);
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_inet(o->address, &ss, &len, err, errlen) < 0) return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(): %s", strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    /* TCP_NODELAY is inherited by accepted sockets: set once here, not once per connection.
     * Responses often go out in more than one send, and without it a delayed ACK stalls each
     * by ~40 ms. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)) {
        snprintf(err, errlen, "setsockopt('%s'): %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        snprintf(err, errlen, "unable to bind listening socket for address '%s': %s", o->address,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, o->backlog < 0 ? -1 : o->backlog) < 0) {
        snprintf(err, errlen, "failed to listen to address '%s': %s", o->address, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void listen_cleanup(const char *address)
{
    if (address != NULL && is_unix_address(address)) unlink(address);
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack listener sees IPv4 peers)
 * becomes plain IPv4, so entries and peers compare whichever way either is written. */
static void unmap_v4(struct sockaddr_storage *ss)
{
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) return;
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    s4.sin_port = s6->sin6_port;
    memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &s4, sizeof(s4));
}

int allowed_clients_parse(char *const *list, struct allowed_clients *out, char *err, size_t errlen)
{
    out->addrs = NULL;
    out->n = 0;
    if (list == NULL) return 0;
    size_t n = 0;
    while (list[n] != NULL)
        n++;
    if (n == 0) return 0;
    out->addrs = calloc(n, sizeof(*out->addrs));
    if (out->addrs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage *ss = &out->addrs[i];
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, list[i], &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
        } else if (inet_pton(AF_INET6, list[i], &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            unmap_v4(ss);
        } else {
            snprintf(err, errlen, "listen.allowed_clients: '%s' is not an IP address", list[i]);
            allowed_clients_free(out);
            return -1;
        }
    }
    out->n = n;
    return 0;
}

int allowed_clients_match(const struct allowed_clients *ac, const struct sockaddr *peer,
                          socklen_t len)
{
    if (ac->n == 0 || peer->sa_family == AF_UNIX) return 1;
    struct sockaddr_storage p;
    memset(&p, 0, sizeof(p));
    if (len > sizeof(p)) len = sizeof(p);
    memcpy(&p, peer, len);
    unmap_v4(&p);
    for (size_t i = 0; i < ac->n; i++) {
        const struct sockaddr_storage *a = &ac->addrs[i];
        if (a->ss_family != p.ss_family) continue;
        if (p.ss_family == AF_INET && ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                                          ((const struct sockaddr_in *)&p)->sin_addr.s_addr)
            return 1;
        if (p.ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                   &((const struct sockaddr_in6 *)&p)->sin6_addr, sizeof(struct in6_addr)) == 0)
            return 1;
    }
    return 0;
}

int allowed_clients_check(const struct allowed_clients *ac, int fd)
{
    if (ac->n == 0) return 1;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0) return 0;
    return allowed_clients_match(ac, (struct sockaddr *)&peer, len);
}

void allowed_clients_free(struct allowed_clients *ac)
{
    free(ac->addrs);
    ac->addrs = NULL;
    ac->n = 0;
}
