/* Unit tests for listening sockets and listen.allowed_clients (src/listen.c). The accept cases
 * use real loopback sockets on ephemeral ports, so the peer address is what the kernel reports. */
#include "listen.h"

#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    if (inet_pton(AF_INET, ip, &s->sin_addr) != 1) abort();
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, ip, &s->sin6_addr) != 1) abort();
    return ss;
}

static int match(char *const *list, struct sockaddr_storage peer)
{
    struct allowed_clients ac;
    char err[256];
    if (allowed_clients_parse(list, &ac, err, sizeof(err)) < 0) {
        printf("    %s\n", err);
        return -1;
    }
    int ok = allowed_clients_match(&ac, (struct sockaddr *)&peer, sizeof(peer));
    allowed_clients_free(&ac);
    return ok;
}

static void test_match(void)
{
    char *v4_list[] = {"127.0.0.1", "10.1.2.3", NULL};
    char *v6_list[] = {"::1", NULL};
    char *mapped_list[] = {"::ffff:10.1.2.3", NULL};
    char *empty[] = {NULL};

    CHECK(match(v4_list, v4("10.1.2.3")) == 1, "match: IPv4 peer, IPv4 entry");
    CHECK(match(v4_list, v4("10.1.2.4")) == 0, "match: IPv4 peer not listed is refused");
    CHECK(match(v4_list, v6("::ffff:10.1.2.3")) == 1,
          "match: IPv4-mapped peer (dual-stack listener) matches the IPv4 entry");
    CHECK(match(v4_list, v6("::ffff:10.1.2.4")) == 0, "match: IPv4-mapped peer not listed");
    CHECK(match(mapped_list, v4("10.1.2.3")) == 1 && match(mapped_list, v6("::ffff:10.1.2.3")) == 1,
          "match: an entry written ::ffff:a.b.c.d matches the IPv4 peer either way");
    CHECK(match(v6_list, v6("::1")) == 1 && match(v6_list, v6("::2")) == 0,
          "match: IPv6 peer, IPv6 entry");
    CHECK(match(v6_list, v4("0.0.0.1")) == 0 && match(v4_list, v6("::127.0.0.1")) == 0,
          "match: no cross-family match other than IPv4-mapped");
    CHECK(match(empty, v4("192.0.2.1")) == 1 && match(NULL, v4("192.0.2.1")) == 1,
          "match: empty or unset list allows any client");
    struct sockaddr_storage un;
    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    CHECK(match(v4_list, un) == 1, "match: unix socket peers are always allowed");

    struct allowed_clients ac;
    char err[256];
    char *bad[] = {"127.0.0.1", "example.org", NULL};
    CHECK(allowed_clients_parse(bad, &ac, err, sizeof(err)) == -1 && strstr(err, "example.org") &&
              ac.n == 0 && ac.addrs == NULL,
          "parse: a name is refused, naming it");
}

/* Connect to listener fd from a socket bound to from_ip; 1 when the listener's list allows it. */
static int accepted_and_allowed(int lfd, const char *from_ip, int family, char *const *list)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0) return -1;
    int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    struct sockaddr_storage to = family == AF_INET ? v4(from_ip) : v6(from_ip);
    if (family == AF_INET)
        ((struct sockaddr_in *)&to)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&to)->sin6_port = htons((uint16_t)port);
    int c = socket(family, SOCK_STREAM, 0);
    if (c < 0) return -1;
    if (connect(c, (struct sockaddr *)&to,
                family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0) {
        close(c);
        return -1;
    }
    int a = -1;
    for (int i = 0; i < 200 && a < 0; i++) { /* the listener is non-blocking: bounded wait */
        a = accept(lfd, NULL, NULL);
        if (a < 0 && errno != EAGAIN) break;
        if (a < 0) usleep(5000);
    }
    close(c);
    if (a < 0) return -1;
    struct allowed_clients ac;
    char err[256];
    int ok = -1;
    if (allowed_clients_parse(list, &ac, err, sizeof(err)) == 0) {
        ok = allowed_clients_check(&ac, a);
        allowed_clients_free(&ac);
    }
    close(a);
    return ok;
}

static void test_sockets(void)
{
    char err[256];
    char *lo4[] = {"127.0.0.1", NULL};
    char *other4[] = {"127.0.0.2", NULL};
    char *lo6[] = {"::1", NULL};

    /* A bare port listens on [::] with IPv4 mapped: 127.0.0.1 arrives as ::ffff:127.0.0.1. */
    struct listen_opts any = {"0", 16, NULL, NULL, -1};
    int fd = -1;
    for (int port = 47311; port < 47341 && fd < 0; port++) {
        char addr[16];
        snprintf(addr, sizeof(addr), "%d", port);
        any.address = addr;
        fd = listen_open(&any, err, sizeof(err));
    }
    if (fd < 0) {
        printf("SKIP: dual-stack listener: %s\n", err);
    } else {
        CHECK(accepted_and_allowed(fd, "127.0.0.1", AF_INET, lo4) == 1,
              "sockets: 127.0.0.1 on a bare-port (dual-stack) listener matches '127.0.0.1'");
        CHECK(accepted_and_allowed(fd, "127.0.0.1", AF_INET, other4) == 0,
              "sockets: 127.0.0.1 on a dual-stack listener does not match '127.0.0.2'");
        int r6 = accepted_and_allowed(fd, "::1", AF_INET6, lo6);
        if (r6 < 0)
            printf("SKIP: no IPv6 loopback\n");
        else
            CHECK(r6 == 1 && accepted_and_allowed(fd, "::1", AF_INET6, lo4) == 0,
                  "sockets: ::1 matches '::1' and not '127.0.0.1'");
        close(fd);
    }

    struct listen_opts v4only = {"127.0.0.1:0", 16, NULL, NULL, -1};
    fd = -1;
    for (int port = 47341; port < 47371 && fd < 0; port++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
        v4only.address = addr;
        fd = listen_open(&v4only, err, sizeof(err));
    }
    if (fd < 0) {
        printf("SKIP: IPv4 listener: %s\n", err);
    } else {
        char *mapped[] = {"::ffff:127.0.0.1", NULL};
        CHECK(accepted_and_allowed(fd, "127.0.0.1", AF_INET, lo4) == 1 &&
                  accepted_and_allowed(fd, "127.0.0.1", AF_INET, mapped) == 1,
              "sockets: IPv4 peer matches '127.0.0.1' and '::ffff:127.0.0.1'");
        close(fd);
    }
}

/* listen.owner / listen.group take names or numbers, as php-fpm's. */
static void test_unix_owner(void)
{
    char dir[] = "/tmp/phpmgr-test-listen.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    char err[256];
    int root = geteuid() == 0;
    struct listen_opts o = {path, 16, root ? "4242" : NULL, root ? "4343" : NULL, 0640};
    int fd = listen_open(&o, err, sizeof(err));
    struct stat st;
    CHECK(fd >= 0 && stat(path, &st) == 0 && (st.st_mode & 07777) == 0640 &&
              (!root || (st.st_uid == 4242 && st.st_gid == 4343)),
          "unix: mode set; numeric listen.owner/listen.group accepted (as root)");
    if (fd < 0) printf("    %s\n", err);
    if (fd >= 0) close(fd);
    listen_cleanup(path);

    struct listen_opts bad = {path, 16, "no-such-user-phpmgr", NULL, -1};
    fd = listen_open(&bad, err, sizeof(err));
    CHECK(fd < 0 && strstr(err, "[listen.owner] cannot get uid for user 'no-such-user-phpmgr'"),
          "unix: unknown listen.owner is an error naming it");
    if (fd >= 0) close(fd);
    listen_cleanup(path);
    rmdir(dir);
}

int main(void)
{
    test_match();
    test_sockets();
    test_unix_owner();
    return CHECK_DONE();
}
