/* Unit tests for src/static_file.c: the answer to a static GET/HEAD (200, 206, 304, 416, 404) for
 * real request heads parsed by http_request_parse, over a temporary docroot holding a small file,
 * an empty file, a subdirectory, a FIFO and symlinks that stay inside or escape the root. Bodies
 * are read back through the returned fd. The FIFO case runs under alarm(5): an open that blocks
 * fails loudly instead of hanging the suite. */
#include "check.h"
#include "cgi_response.h"
#include "http.h"
#include "static_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONTENT "0123456789"
#define CONTENT_LEN 10
#define DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define NHDR 32

static char name_buf[512];

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        snprintf(name_buf, sizeof name_buf, __VA_ARGS__);                                          \
        CHECK(cond, name_buf);                                                                     \
    } while (0)

static char base[64];  /* the temp directory: root/ and the files outside it */
static char root[128]; /* base/root: the document root */
static int root_fd = -1;

/* The head of the last answer as a NUL-terminated string. */
static char head_str[STATIC_HEAD_MAX + 1];

/* Parse the request head text, route its path under the root (filename = root + path, as the
 * caller does with the still-encoded path) and answer it. Returns 0, or -1 if the head did not
 * parse (a test bug: it is reported as a FAIL by the caller's checks on status). */
static int answer_path(const char *text, const char *filename, struct static_answer *a)
{
    static struct http_header hdrs[NHDR];
    struct http_request req;
    size_t n = strlen(text);
    uint8_t *buf = malloc(n ? n : 1); /* exact size: ASan sees any read past the head */
    if (buf == NULL) abort();
    memcpy(buf, text, n);
    http_request_init(&req, hdrs, NHDR, NULL);
    ssize_t r = http_request_parse(&req, buf, n);
    memset(a, 0, sizeof(*a));
    a->status = -1;
    a->fd = -1;
    head_str[0] = 0;
    if (r <= 0 || (size_t)r != n) {
        printf("# request did not parse (%zd): %s\n", r, text);
        free(buf);
        return -1;
    }
    char fname[512];
    if (filename == NULL) {
        snprintf(fname, sizeof fname, "%s%.*s", root, (int)req.path.len,
                 (const char *)buf + req.path.off);
        filename = fname;
    }
    struct static_request sr = {
        .root_fd = root_fd,
        .root = root,
        .filename = filename,
        .req = &req,
        .head = buf,
        .keep_alive = req.keep_alive,
        .date = DATE,
    };
    static_file_answer(&sr, a);
    size_t hl = a->head_len <= STATIC_HEAD_MAX ? a->head_len : STATIC_HEAD_MAX;
    memcpy(head_str, a->head, hl);
    head_str[hl] = 0;
    free(buf);
    return 0;
}

static int answer(const char *text, struct static_answer *a)
{
    return answer_path(text, NULL, a);
}

/* Whether the head has the exact line "name: value". */
static int has_line(const char *name, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, "\r\n%s: %s\r\n", name, value);
    return strstr(head_str, line) != NULL;
}

/* Whether the head has a header named name at all. */
static int has_header(const char *name)
{
    char line[128];
    snprintf(line, sizeof line, "\r\n%s: ", name);
    return strstr(head_str, line) != NULL;
}

/* The value of header name in out (empty if absent). */
static void header_value(const char *name, char *out, size_t cap)
{
    char line[128];
    snprintf(line, sizeof line, "\r\n%s: ", name);
    out[0] = 0;
    const char *p = strstr(head_str, line);
    if (p == NULL) return;
    p += strlen(line);
    const char *e = strstr(p, "\r\n");
    if (e == NULL) return;
    size_t n = (size_t)(e - p);
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A complete head: a status line, and exactly one empty line, at its end. */
static int head_complete(const struct static_answer *a)
{
    size_t n = strlen(head_str);
    return n == a->head_len && n >= 4 && strcmp(head_str + n - 4, "\r\n\r\n") == 0 &&
           strstr(head_str, "\r\n\r\n") == head_str + n - 4;
}

/* Read the answer's body through its fd and compare it with want; closes the fd. */
static int body_is(struct static_answer *a, const char *want)
{
    size_t wl = strlen(want);
    if (a->fd < 0) return 0;
    char got[64];
    int ok = a->len == wl && wl <= sizeof got &&
             pread(a->fd, got, wl, (off_t)a->off) == (ssize_t)wl && memcmp(got, want, wl) == 0;
    close(a->fd);
    a->fd = -1;
    return ok;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void rm_tree(void);

/* The FIFO answer blocked: say so, remove the docroot and exit. The main flow is parked in the
 * open syscall (stdout was flushed before it), so nothing the handler uses is mid-update. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] =
        "FAIL: a FIFO: static_file_answer returned within 5 s (it blocked: the open waits for a "
        "writer)\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    rm_tree();
    _exit(1);
}

static void rm_tree(void)
{
    static const char *const names[] = {
        "root/a.txt",      "root/empty.txt",  "root/index.html", "root/IMG.PNG",
        "root/noext",      "root/fifo",       "root/sub/b.css",  "root/link-in",
        "root/escape-rel", "root/escape-abs", "root/escape-etc", "rootx/a.txt",
        "secret.txt",
    };
    char p[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/root/sub", base);
    rmdir(p);
    snprintf(p, sizeof p, "%s/rootx", base);
    rmdir(p);
    rmdir(root);
    rmdir(base);
}

static int write_file(const char *dir, const char *name, const char *content)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL) return -1;
    fputs(content, f);
    return fclose(f);
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/phpmgr-static-XXXXXX");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(root, sizeof root, "%s/root", base);
    char p[256], q[256], rootx[160];
    snprintf(rootx, sizeof rootx, "%s/rootx", base);
    snprintf(p, sizeof p, "%s/sub", root);
    snprintf(q, sizeof q, "%s/secret.txt", base);
    int setup = mkdir(root, 0700) | mkdir(p, 0700) | mkdir(rootx, 0700) |
                write_file(root, "a.txt", CONTENT) | write_file(root, "empty.txt", "") |
                write_file(root, "index.html", "<p>hi</p>") | write_file(root, "IMG.PNG", "png") |
                write_file(root, "noext", "x") | write_file(p, "b.css", "b{}") |
                write_file(base, "secret.txt", "secret") | write_file(rootx, "a.txt", "other");
    snprintf(p, sizeof p, "%s/fifo", root);
    setup |= mkfifo(p, 0600);
    snprintf(p, sizeof p, "%s/link-in", root);
    setup |= symlink("sub/b.css", p); /* relative, stays inside: served */
    snprintf(p, sizeof p, "%s/escape-rel", root);
    setup |= symlink("../secret.txt", p); /* relative, climbs out */
    snprintf(p, sizeof p, "%s/escape-abs", root);
    setup |= symlink(q, p); /* absolute, to an existing file outside */
    snprintf(p, sizeof p, "%s/escape-etc", root);
    setup |= symlink("/etc/passwd", p);
    root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (setup != 0 || root_fd < 0) {
        perror("setup");
        rm_tree();
        return 1;
    }
    struct stat st_a, st_secret;
    snprintf(p, sizeof p, "%s/a.txt", root);
    if (stat(p, &st_a) < 0 || stat(q, &st_secret) < 0) {
        perror("stat");
        rm_tree();
        return 1;
    }
    char want_lm[CGI_DATE_LEN + 1];
    cgi_response_date(want_lm, st_a.st_mtime);

    struct static_answer a;
    char etag[128], lm[128], req[1024];
    int fds_before = count_fds();

    /* A plain GET: 200 with the whole file, its validators, type and connection. */
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 200, "GET a file: 200");
    CHECK(starts_with(head_str, "HTTP/1.1 200 OK\r\n"), "GET: status line 200 OK");
    CHECK(head_complete(&a), "GET: head_len covers a head ending in one empty line");
    CHECK(has_line("Content-Length", "10"), "GET: Content-Length is the file's size");
    CHECK(has_line("Content-Type", "text/plain"), "GET: .txt is text/plain");
    CHECK(has_line("Date", DATE), "GET: Date is the caller's");
    CHECK(has_line("Connection", "keep-alive"), "GET HTTP/1.1: Connection: keep-alive");
    CHECK(has_line("Accept-Ranges", "bytes"), "GET: Accept-Ranges: bytes");
    CHECK(!has_header("Content-Range"), "GET: no Content-Range");
    header_value("ETag", etag, sizeof etag);
    header_value("Last-Modified", lm, sizeof lm);
    size_t el = strlen(etag);
    CHECK(el >= 3 && etag[0] == '"' && etag[el - 1] == '"', "GET: a quoted ETag is present");
    CHECK(strcmp(lm, want_lm) == 0, "GET: Last-Modified is the file's mtime");
    CHECK(a.fd >= 0 && a.off == 0 && a.len == CONTENT_LEN, "GET: fd, off 0, len 10");
    CHECK(body_is(&a, CONTENT), "GET: the fd reads the file's bytes");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &a);
    CHECK(a.status == 200 && has_line("Connection", "close") &&
              !has_line("Connection", "keep-alive"),
          "GET with Connection: close: Connection: close");
    if (a.fd >= 0) close(a.fd);
    answer("GET /a.txt HTTP/1.0\r\n\r\n", &a);
    CHECK(a.status == 200 && has_line("Connection", "close"), "GET HTTP/1.0: Connection: close");
    if (a.fd >= 0) close(a.fd);

    /* Content-Type by extension. */
    static const struct {
        const char *path, *type;
    } types[] = {
        {"/index.html", "text/html"},
        {"/IMG.PNG", "image/png"},
        {"/sub/b.css", "text/css"},
        {"/noext", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", types[i].path);
        answer(req, &a);
        CHECKF(a.status == 200 && has_line("Content-Type", types[i].type), "%s is %s",
               types[i].path, types[i].type);
        if (a.fd >= 0) close(a.fd);
    }

    /* HEAD: the same head, no body. */
    answer("HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 200 && has_line("Content-Length", "10") && has_line("ETag", etag),
          "HEAD: 200 with the GET's Content-Length and ETag");
    CHECK(a.fd < 0 && a.len == 0, "HEAD: no fd, no body");
    answer("HEAD /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n", &a);
    CHECK(a.status != 404 && a.fd < 0, "HEAD with Range: no fd");

    /* The empty file: 200, Content-Length: 0, nothing to send. */
    answer("GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 200 && has_line("Content-Length", "0"), "empty file: 200, Content-Length: 0");
    CHECK(a.fd < 0 && a.len == 0, "empty file: no fd");
    answer("GET /empty.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n", &a);
    CHECK(a.status == 416 && has_line("Content-Range", "bytes */0") && a.fd < 0,
          "empty file with Range: 416 bytes */0");

    /* Ranges. */
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n", &a);
    CHECK(a.status == 206 && starts_with(head_str, "HTTP/1.1 206 Partial Content\r\n"),
          "bytes=2-4: 206 Partial Content");
    CHECK(has_line("Content-Range", "bytes 2-4/10") && has_line("Content-Length", "3"),
          "bytes=2-4: Content-Range bytes 2-4/10, Content-Length 3");
    CHECK(a.fd >= 0 && a.off == 2 && a.len == 3, "bytes=2-4: off 2, len 3");
    CHECK(body_is(&a, "234"), "bytes=2-4: the fd reads \"234\"");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n", &a);
    CHECK(a.status == 206 && has_line("Content-Range", "bytes 7-9/10") &&
              has_line("Content-Length", "3"),
          "suffix bytes=-3: 206 bytes 7-9/10");
    CHECK(body_is(&a, "789"), "suffix bytes=-3: the fd reads \"789\"");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-50\r\n\r\n", &a);
    CHECK(a.status == 206 && has_line("Content-Range", "bytes 0-9/10"),
          "suffix longer than the file: the whole file as 0-9/10");
    CHECK(body_is(&a, CONTENT), "suffix bytes=-50: the fd reads the whole file");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=6-\r\n\r\n", &a);
    CHECK(a.status == 206 && has_line("Content-Range", "bytes 6-9/10"), "bytes=6-: 206 6-9/10");
    CHECK(body_is(&a, "6789"), "bytes=6-: the fd reads \"6789\"");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=8-100\r\n\r\n", &a);
    CHECK(a.status == 206 && has_line("Content-Range", "bytes 8-9/10"),
          "bytes=8-100: the end is clamped to 8-9/10");
    CHECK(body_is(&a, "89"), "bytes=8-100: the fd reads \"89\"");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-20\r\n\r\n", &a);
    CHECK(a.status == 416 && starts_with(head_str, "HTTP/1.1 416 Range Not Satisfiable\r\n"),
          "bytes=10-20 (past the end): 416");
    CHECK(has_line("Content-Range", "bytes */10") && has_line("Content-Length", "0"),
          "416: Content-Range bytes */10, Content-Length 0");
    CHECK(a.fd < 0 && head_complete(&a), "416: no fd, a complete head");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,4-5\r\n\r\n", &a);
    CHECK(a.status == 200 && !has_header("Content-Range") && has_line("Content-Length", "10"),
          "multi-range: 200 with the whole file");
    CHECK(body_is(&a, CONTENT), "multi-range: the fd reads the whole file");

    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=4-2\r\n\r\n", &a);
    CHECK(a.status == 200 && !has_header("Content-Range"), "bytes=4-2 (invalid): 200, ignored");
    if (a.fd >= 0) close(a.fd);
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: lines=1-2\r\n\r\n", &a);
    CHECK(a.status == 200 && !has_header("Content-Range"), "a non-bytes unit: 200, ignored");
    if (a.fd >= 0) close(a.fd);

    /* If-Range: a fresh validator keeps the range, a stale one sends the whole file. */
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\nIf-Range: \"stale-1\"\r\n\r\n",
           &a);
    CHECK(a.status == 200 && !has_header("Content-Range") && has_line("Content-Length", "10"),
          "If-Range with a stale ETag: 200 with the whole file");
    CHECK(body_is(&a, CONTENT), "If-Range stale: the fd reads the whole file");
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n"
           "If-Range: Mon, 01 Jan 2001 00:00:00 GMT\r\n\r\n",
           &a);
    CHECK(a.status == 200 && !has_header("Content-Range") && has_line("Content-Length", "10"),
          "If-Range with a stale date: 200 with the whole file");
    CHECK(body_is(&a, CONTENT), "If-Range stale date: the fd reads the whole file");
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\nIf-Range: %s\r\n\r\n", etag);
    answer(req, &a);
    CHECK(a.status == 206 && has_line("Content-Range", "bytes 2-4/10"),
          "If-Range with the current ETag: 206");
    CHECK(body_is(&a, "234"), "If-Range fresh: the fd reads \"234\"");
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\nIf-Range: %s\r\n\r\n", lm);
    answer(req, &a);
    CHECK(a.status == 206, "If-Range with the current Last-Modified: 206");
    if (a.fd >= 0) close(a.fd);

    /* Conditional GET: 304 with the validators and no body. */
    snprintf(req, sizeof req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", etag);
    answer(req, &a);
    CHECK(a.status == 304 && starts_with(head_str, "HTTP/1.1 304 Not Modified\r\n"),
          "If-None-Match with the ETag: 304");
    CHECK(has_line("ETag", etag) && has_line("Last-Modified", lm) && has_line("Date", DATE),
          "304: ETag, Last-Modified and Date");
    CHECK(a.fd < 0 && a.len == 0 && head_complete(&a) && !has_header("Content-Length"),
          "304: no fd, no Content-Length, a complete head");
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\", W/%s\r\n\r\n", etag);
    answer(req, &a);
    CHECK(a.status == 304, "If-None-Match list with a weak match: 304");
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n", &a);
    CHECK(a.status == 304, "If-None-Match: * : 304");
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n", &a);
    CHECK(a.status == 200 && a.fd >= 0, "If-None-Match with another ETag: 200");
    if (a.fd >= 0) close(a.fd);
    snprintf(req, sizeof req, "HEAD /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", etag);
    answer(req, &a);
    CHECK(a.status == 304 && a.fd < 0, "HEAD with If-None-Match: 304");

    snprintf(req, sizeof req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n",
             lm);
    answer(req, &a);
    CHECK(a.status == 304 && a.fd < 0 && has_line("ETag", etag),
          "If-Modified-Since with the Last-Modified: 304");
    answer("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Mon, 01 Jan 2001 00:00:00 "
           "GMT\r\n\r\n",
           &a);
    CHECK(a.status == 200 && a.fd >= 0, "If-Modified-Since with another date: 200");
    if (a.fd >= 0) close(a.fd);
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\nIf-Modified-Since: "
             "%s\r\n\r\n",
             lm);
    answer(req, &a);
    CHECK(a.status == 200, "If-None-Match takes precedence over If-Modified-Since");
    if (a.fd >= 0) close(a.fd);
    snprintf(req, sizeof req,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\nConnection: close\r\n\r\n",
             etag);
    answer(req, &a);
    CHECK(a.status == 304 && has_line("Connection", "close"), "304 with Connection: close");

    /* Another file's ETag differs (size is part of it). */
    answer("GET /sub/b.css HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    char etag_b[128];
    header_value("ETag", etag_b, sizeof etag_b);
    CHECK(a.status == 200 && etag_b[0] == '"' && strcmp(etag_b, etag) != 0,
          "a file of another size has another ETag");
    if (a.fd >= 0) close(a.fd);

    /* Not regular files, missing files and escapes: 404 with no head and no fd. */
    answer("GET /sub HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.head_len == 0 && a.fd < 0, "a directory: 404");
    answer("GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "a directory with a slash: 404");
    answer("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "the root itself: 404");
    answer("GET /missing.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "a missing file: 404");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout);
    alarm(5);
    answer("GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(a.status == 404 && a.head_len == 0 && a.fd < 0, "a FIFO: 404");
    CHECKF(secs < 1.0, "a FIFO: answered at once (%.3f s)", secs);

    answer("GET /link-in HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 200 && has_line("Content-Type", "application/octet-stream"),
          "a symlink inside the root: served");
    CHECK(body_is(&a, "b{}"), "a symlink inside the root: the fd reads its target");
    answer("GET /escape-rel HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "a relative symlink out of the root: 404");
    answer("GET /escape-abs HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "an absolute symlink to a file outside: 404");
    answer("GET /escape-etc HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "a symlink to /etc/passwd: 404");

    /* "../" in the path (the parser passes it through): base/secret.txt exists, so only the
     * beneath-the-root rule makes these 404. */
    answer("GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "/../secret.txt: 404");
    answer("GET /sub/../../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "/sub/../../secret.txt: 404");
    answer("GET /sub/../a.txt HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 200, "/sub/../a.txt (stays inside): 200");
    CHECK(body_is(&a, CONTENT), "/sub/../a.txt: the fd reads a.txt");
    answer("HEAD /../../../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", &a);
    CHECK(a.status == 404 && a.fd < 0, "/../../../../../../etc/passwd: 404");

    /* A filename outside the root's path, or under a sibling sharing its prefix: 404. */
    answer_path("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", q, &a);
    CHECK(a.status == 404 && a.fd < 0, "a filename outside the root: 404");
    snprintf(p, sizeof p, "%s/a.txt", rootx);
    answer_path("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", p, &a);
    CHECK(a.status == 404 && a.fd < 0, "a filename under root-prefixed sibling dir: 404");

    /* Every answer without a body closed its fd (the bodies were closed above). */
    CHECKF(fds_before >= 0 && count_fds() == fds_before, "no fd leaked (%d before, %d after)",
           fds_before, count_fds());

    close(root_fd);
    rm_tree();
    struct stat gone;
    CHECK(stat(base, &gone) < 0, "the temp docroot is removed");
    return CHECK_DONE();
}
