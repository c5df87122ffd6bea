/* The SAPI end to end: start the engine, fork workers on socketpairs, and speak FastCGI to them
 * byte by byte (records are encoded here, independently of src/fcgi.c). Every wait is bounded.
 *
 * Fixtures: tests/fixtures/sapi/ (the tests run from the repository root). */
#include "check.h"
#include "phpw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_TIMEOUT_MS 15000

/* Under AddressSanitizer PHP cannot dlopen its shared extensions (RTLD_DEEPBIND), so the engine
 * runs without php.ini there and the OPcache check is skipped. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static char docroot[PATH_MAX];
static char tmpdir[PATH_MAX];

/* ---- growable byte buffers ---- */

struct buf {
    unsigned char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            perror("realloc");
            exit(2);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0'; /* always a C string too */
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- FastCGI encoding ---- */

enum { BEGIN = 1, END = 3, PARAMS = 4, STDIN_ = 5, STDOUT_ = 6, STDERR_ = 7 };

static void put_record(struct buf *b, int type, const void *content, size_t len, int pad)
{
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          0,
                          1,
                          (unsigned char)(len >> 8),
                          (unsigned char)(len & 0xff),
                          (unsigned char)pad,
                          0};
    static const unsigned char zeros[255];
    buf_add(b, h, 8);
    if (len) buf_add(b, content, len);
    if (pad) buf_add(b, zeros, (size_t)pad);
}

static void put_len(struct buf *b, size_t n)
{
    if (n < 128) {
        unsigned char c = (unsigned char)n;
        buf_add(b, &c, 1);
    } else {
        unsigned char c[4] = {(unsigned char)((n >> 24) | 0x80), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 8), (unsigned char)n};
        buf_add(b, c, 4);
    }
}

static void param(struct buf *p, const char *name, const char *value)
{
    put_len(p, strlen(name));
    put_len(p, strlen(value));
    buf_add(p, name, strlen(name));
    buf_add(p, value, strlen(value));
}

/* The params nginx's fastcgi_params + SCRIPT_FILENAME would send for docroot + script. */
static void std_params(struct buf *p, const char *method, const char *script, const char *query)
{
    char path[PATH_MAX * 2], uri[4096];
    snprintf(path, sizeof(path), "%s%s", docroot, script);
    snprintf(uri, sizeof(uri), "%s%s%s", script, query && *query ? "?" : "", query ? query : "");
    param(p, "SCRIPT_FILENAME", path);
    param(p, "QUERY_STRING", query ? query : "");
    param(p, "REQUEST_METHOD", method);
    param(p, "SCRIPT_NAME", script);
    param(p, "REQUEST_URI", uri);
    param(p, "DOCUMENT_URI", script);
    param(p, "DOCUMENT_ROOT", docroot);
    param(p, "SERVER_PROTOCOL", "HTTP/1.1");
    param(p, "REQUEST_SCHEME", "http");
    param(p, "GATEWAY_INTERFACE", "CGI/1.1");
    param(p, "SERVER_SOFTWARE", "nginx/1.22.1");
    param(p, "REMOTE_ADDR", "127.0.0.1");
    param(p, "REMOTE_PORT", "40000");
    param(p, "SERVER_ADDR", "127.0.0.1");
    param(p, "SERVER_PORT", "80");
    param(p, "SERVER_NAME", "localhost");
    param(p, "REDIRECT_STATUS", "200");
    param(p, "HTTP_HOST", "localhost");
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* BEGIN_REQUEST (keep-conn), PARAMS in records of at most 64 KiB, STDIN in chunks. */
static int send_request(int fd, const struct buf *params, const void *body, size_t body_len,
                        size_t chunk)
{
    struct buf out = {0};
    unsigned char begin[8] = {0, 1, 1 /* FCGI_KEEP_CONN */, 0, 0, 0, 0, 0};
    put_record(&out, BEGIN, begin, 8, 0);
    for (size_t off = 0; off < params->len;) {
        size_t n = params->len - off > 65535 ? 65535 : params->len - off;
        put_record(&out, PARAMS, params->p + off, n, (int)((8 - n % 8) % 8));
        off += n;
    }
    put_record(&out, PARAMS, NULL, 0, 0);
    if (chunk == 0) chunk = 65535;
    for (size_t off = 0; off < body_len;) {
        size_t n = body_len - off > chunk ? chunk : body_len - off;
        put_record(&out, STDIN_, (const unsigned char *)body + off, n, 0);
        off += n;
    }
    put_record(&out, STDIN_, NULL, 0, 0);
    int r = write_all(fd, out.p, out.len);
    buf_free(&out);
    return r;
}

/* ---- FastCGI decoding, with bounded waits ---- */

struct conn {
    int fd;
    struct buf in; /* bytes read but not yet consumed */
    int last_id;   /* request id of the record read_record() returned last */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one record. Returns 1, 0 on timeout, -1 on EOF or error. */
static int read_record(struct conn *c, int *type, struct buf *content, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (c->in.len >= 8) {
            size_t clen = ((size_t)c->in.p[4] << 8) | c->in.p[5];
            size_t total = 8 + clen + c->in.p[6];
            if (c->in.len >= total) {
                *type = c->in.p[1];
                c->last_id = (c->in.p[2] << 8) | c->in.p[3];
                content->len = 0;
                buf_add(content, c->in.p + 8, clen);
                memmove(c->in.p, c->in.p + total, c->in.len - total);
                c->in.len -= total;
                return 1;
            }
        }
        long long left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -1;
        if (pr == 0) return 0;
        unsigned char tmp[65536];
        ssize_t n = read(c->fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf_add(&c->in, tmp, (size_t)n);
    }
}

struct resp {
    struct buf out, err;
    int ended;           /* END_REQUEST seen */
    uint32_t app_status; /* from END_REQUEST */
    int protocol_status;
    int stdout_eof;   /* empty STDOUT record seen */
    int bad;          /* unexpected record */
    const char *body; /* after the header block */
    char headers[8192];
};

static void resp_free(struct resp *r)
{
    buf_free(&r->out);
    buf_free(&r->err);
}

/* Read records until END_REQUEST. Returns 1 when it came, 0 on timeout/EOF. */
static int read_response(struct conn *c, struct resp *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    struct buf content = {0};
    long long deadline = now_ms() + timeout_ms;
    int ok = 0;
    for (;;) {
        int type;
        long long left = deadline - now_ms();
        if (left <= 0) break;
        int rr = read_record(c, &type, &content, (int)left);
        if (rr <= 0) break;
        if (type == STDOUT_) {
            if (content.len == 0)
                r->stdout_eof = 1;
            else if (r->stdout_eof)
                r->bad = 1; /* data after EOF */
            else
                buf_add(&r->out, content.p, content.len);
        } else if (type == STDERR_) {
            buf_add(&r->err, content.p, content.len);
        } else if (type == END && content.len == 8) {
            r->ended = 1;
            r->app_status = ((uint32_t)content.p[0] << 24) | ((uint32_t)content.p[1] << 16) |
                            ((uint32_t)content.p[2] << 8) | content.p[3];
            r->protocol_status = content.p[4];
            ok = 1;
            break;
        } else {
            r->bad = 1;
        }
    }
    buf_free(&content);
    if (r->out.p == NULL) buf_add(&r->out, "", 0);
    if (r->err.p == NULL) buf_add(&r->err, "", 0);
    const char *sep = strstr((const char *)r->out.p, "\r\n\r\n");
    if (sep) {
        size_t hl = (size_t)(sep - (const char *)r->out.p) + 2;
        if (hl >= sizeof(r->headers)) hl = sizeof(r->headers) - 1;
        memcpy(r->headers, r->out.p, hl);
        r->headers[hl] = '\0';
        r->body = sep + 4;
    } else {
        r->body = "";
    }
    return ok;
}

/* A whole header line (without CRLF) is in the block. */
static int has_header(const struct resp *r, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = r->headers; (p = strstr(p, line)) != NULL; p++) {
        if ((p == r->headers || p[-1] == '\n') && p[n] == '\r') return 1;
    }
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One request on a connection: params from std_params + extra pairs, optional body. */
static int request(struct conn *c, struct resp *r, const char *method, const char *script,
                   const char *query, const char *const *extra, const void *body, size_t body_len)
{
    struct buf p = {0};
    std_params(&p, method, script, query);
    char cl[32];
    if (body) {
        snprintf(cl, sizeof(cl), "%zu", body_len);
        param(&p, "CONTENT_LENGTH", cl);
    }
    for (; extra && extra[0]; extra += 2)
        param(&p, extra[0], extra[1]);
    int rc = send_request(c->fd, &p, body, body_len, 16384);
    buf_free(&p);
    if (rc < 0) {
        memset(r, 0, sizeof(*r));
        buf_add(&r->out, "", 0);
        buf_add(&r->err, "", 0);
        r->body = "";
        return 0;
    }
    return read_response(c, r, REQ_TIMEOUT_MS);
}

static int simple(struct conn *c, struct resp *r, const char *script, const char *query)
{
    return request(c, r, "GET", script, query, NULL, NULL, 0);
}

/* ---- workers ---- */

static pid_t spawn_worker(struct conn *c, const struct phpw_worker_opts *tmpl, const char *errlog)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(sv[0]);
        int efd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (efd >= 0) {
            dup2(efd, STDERR_FILENO);
            close(efd);
        }
        struct phpw_worker_opts o = *tmpl;
        o.fd = sv[1];
        int rc = phpw_worker_run(&o);
        phpw_engine_stop();
        _exit(rc);
    }
    close(sv[1]);
    memset(c, 0, sizeof(*c));
    c->fd = sv[0];
    return pid;
}

/* Close the channel and wait (bounded) for the worker to exit; returns its wait status or -1. */
static int stop_worker(struct conn *c, pid_t pid)
{
    close(c->fd);
    buf_free(&c->in);
    long long deadline = now_ms() + 10000;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return st;
        if (w < 0 || now_ms() > deadline) break;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    struct buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_add(&b, tmp, n);
    fclose(f);
    if (b.p == NULL) buf_add(&b, "", 0);
    return (char *)b.p;
}

/* ---- the tests ---- */

static void test_basic(struct conn *c)
{
    struct resp r;
    int ok = simple(c, &r, "/hello.php", NULL);
    CHECK(ok && r.app_status == 0 && r.protocol_status == 0, "hello: one END_REQUEST, status 0");
    CHECK(r.stdout_eof && !r.bad, "hello: STDOUT closed by an empty record");
    CHECK(strcmp((char *)r.out.p,
                 "Content-type: text/html; charset=UTF-8\r\n\r\nHello, world!\n") == 0,
          "hello: exact CGI response bytes");
    CHECK(r.err.len == 0, "hello: nothing on stderr");
    resp_free(&r);

    /* HEAD: headers only */
    ok = request(c, &r, "HEAD", "/hello.php", NULL, NULL, NULL, 0);
    CHECK(ok && strcmp((char *)r.out.p, "Content-type: text/html; charset=UTF-8\r\n\r\n") == 0,
          "HEAD: header block and no body");
    resp_free(&r);
}

static void test_server_vars(struct conn *c)
{
    struct resp r;
    const char *extra[] = {"HTTP_X_CUSTOM", "custom-value", NULL};
    int ok = request(c, &r, "GET", "/server.php", "a=1&b=2", extra, NULL, 0);
    char exp[PATH_MAX + 64];
    snprintf(exp, sizeof(exp), "SCRIPT_FILENAME=%s/server.php\n", docroot);
    CHECK(ok && strstr(r.body, exp), "$_SERVER: SCRIPT_FILENAME");
    CHECK(strstr(r.body, "SCRIPT_NAME=/server.php\n") && strstr(r.body, "PHP_SELF=/server.php\n"),
          "$_SERVER: SCRIPT_NAME and PHP_SELF");
    CHECK(strstr(r.body, "QUERY_STRING=a=1&b=2\n") && strstr(r.body, "REQUEST_METHOD=GET\n"),
          "$_SERVER: QUERY_STRING and REQUEST_METHOD");
    CHECK(strstr(r.body, "HTTP_X_CUSTOM=custom-value\n") && strstr(r.body, "FCGI_ROLE=RESPONDER\n"),
          "$_SERVER: every param, FCGI_ROLE too");
    CHECK(strstr(r.body, "PATH_INFO=(unset)\n") && strstr(r.body, "ORIG_SCRIPT_FILENAME=(unset)\n"),
          "$_SERVER: no PATH_INFO, no ORIG_* for a plain script");
    CHECK(strstr(r.body, "REQUEST_TIME=int\n") && strstr(r.body, "REQUEST_TIME_FLOAT=float\n"),
          "$_SERVER: REQUEST_TIME and REQUEST_TIME_FLOAT");
    CHECK(strstr(r.body, "LAST3=PHP_SELF,REQUEST_TIME_FLOAT,REQUEST_TIME\n") != NULL,
          "$_SERVER: ends with PHP_SELF, REQUEST_TIME_FLOAT, REQUEST_TIME as php-fpm");
    CHECK(strstr(r.body, "ORDER=fpm\n") != NULL, "$_SERVER: params in php-fpm's order");
    CHECK(strstr(r.body, "PHPW_TEST_ENV=from-environment\n") && strstr(r.body, "ENV_FIRST=yes\n"),
          "$_SERVER: process environment first");
    CHECK(strstr(r.body, "GETENV_PARAM=custom-value\n") &&
              strstr(r.body, "GETENV_ENV=from-environment\n"),
          "getenv(): params, then the environment");
    CHECK(strstr(r.body, "SAPI=fpm-fcgi\n") && strstr(r.body, "VERSION=0.1.0\n") &&
              strstr(r.body, "CGI_MODULE=yes\n"),
          "php_sapi_name() fpm-fcgi, PHPMGR_VERSION, cgi-fcgi module");
    resp_free(&r);

    /* fix_pathinfo: /server.php/foo/bar walks back to server.php and derives PATH_INFO */
    struct buf p = {0};
    char sf[PATH_MAX * 2];
    snprintf(sf, sizeof(sf), "%s/server.php/foo/bar", docroot);
    param(&p, "SCRIPT_FILENAME", sf);
    param(&p, "SCRIPT_NAME", "/server.php/foo/bar");
    param(&p, "PATH_INFO", "/server.php/foo/bar");
    param(&p, "REQUEST_METHOD", "GET");
    param(&p, "DOCUMENT_ROOT", docroot);
    param(&p, "QUERY_STRING", "");
    ok = send_request(c->fd, &p, NULL, 0, 0) == 0 && read_response(c, &r, REQ_TIMEOUT_MS);
    buf_free(&p);
    snprintf(exp, sizeof(exp), "SCRIPT_FILENAME=%s/server.php\n", docroot);
    CHECK(ok && strstr(r.body, exp), "fix_pathinfo: SCRIPT_FILENAME walked back to the file");
    CHECK(strstr(r.body, "PATH_INFO=/foo/bar\n") && strstr(r.body, "SCRIPT_NAME=/server.php\n") &&
              strstr(r.body, "PHP_SELF=/server.php/foo/bar\n"),
          "fix_pathinfo: PATH_INFO, SCRIPT_NAME, PHP_SELF");
    snprintf(exp, sizeof(exp), "PATH_TRANSLATED=%s/foo/bar\n", docroot);
    CHECK(strstr(r.body, exp) != NULL, "fix_pathinfo: PATH_TRANSLATED = DOCUMENT_ROOT + PATH_INFO");
    snprintf(exp, sizeof(exp), "ORIG_SCRIPT_FILENAME=%s/server.php/foo/bar\n", docroot);
    CHECK(strstr(r.body, exp) && strstr(r.body, "ORIG_PATH_INFO=/server.php/foo/bar\n") &&
              strstr(r.body, "ORIG_SCRIPT_NAME=/server.php/foo/bar\n"),
          "fix_pathinfo: ORIG_* keep the originals");
    resp_free(&r);

    /* Basic auth */
    const char *auth[] = {"HTTP_AUTHORIZATION", "Basic dXNlcjpwYXNzOndvcmQ=", NULL};
    ok = request(c, &r, "GET", "/server.php", NULL, auth, NULL, 0);
    CHECK(ok && strstr(r.body, "PHP_AUTH_USER=user\n") && strstr(r.body, "PHP_AUTH_PW=pass:word\n"),
          "auth: PHP_AUTH_USER / PHP_AUTH_PW from Basic");
    resp_free(&r);
    ok = simple(c, &r, "/server.php", NULL);
    CHECK(ok && strstr(r.body, "PHP_AUTH_USER=(unset)\n"), "auth: not carried to the next request");
    resp_free(&r);
}

static void test_forms(struct conn *c)
{
    struct resp r;
    const char *ct[] = {"CONTENT_TYPE", "application/x-www-form-urlencoded", NULL};
    const char *body = "x=1&y=hello+world&z%5B%5D=a";
    int ok = request(c, &r, "POST", "/form.php", "q=search", ct, body, strlen(body));
    CHECK(ok && strstr(r.body, "GET=q=search\n") &&
              strstr(r.body, "POST=x=1&y=hello+world&z%5B0%5D=a\n") &&
              strstr(r.body, "REQUEST=q=search&x=1&y=hello+world&z%5B0%5D=a\n"),
          "POST urlencoded: $_GET, $_POST, $_REQUEST");
    resp_free(&r);

    /* php://input twice, a body larger than libfcgi's buffer, sent in odd-sized records */
    size_t n = 300000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + (i * 7) % 26);
    struct buf p = {0};
    std_params(&p, "PUT", "/input.php", NULL);
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", n);
    param(&p, "CONTENT_LENGTH", cl);
    param(&p, "CONTENT_TYPE", "application/octet-stream");
    ok = send_request(c->fd, &p, big, n, 4099) == 0 && read_response(c, &r, REQ_TIMEOUT_MS);
    buf_free(&p);
    CHECK(ok && strstr(r.body, "LEN=300000\n") && strstr(r.body, "SAME=yes\n"),
          "php://input: whole body, readable twice");
    free(big);
    resp_free(&r);

    /* body not read by the script: the worker must skip it and stay in sync */
    const char *unread = "this body is never read";
    ok = request(c, &r, "PUT", "/hello.php", NULL, NULL, unread, strlen(unread));
    CHECK(ok && strcmp(r.body, "Hello, world!\n") == 0, "unread body: response fine");
    resp_free(&r);
    ok = simple(c, &r, "/hello.php", NULL);
    CHECK(ok && strcmp(r.body, "Hello, world!\n") == 0, "unread body: next request in sync");
    resp_free(&r);

    /* STDIN with no CONTENT_LENGTH (PHP reads none of it): the worker still skips it all */
    big = malloc(100000);
    memset(big, 'z', 100000);
    std_params(&p, "POST", "/hello.php", NULL);
    ok = send_request(c->fd, &p, big, 100000, 8000) == 0 && read_response(c, &r, REQ_TIMEOUT_MS);
    buf_free(&p);
    free(big);
    CHECK(ok && strcmp(r.body, "Hello, world!\n") == 0, "body without CONTENT_LENGTH: response");
    resp_free(&r);
    ok = simple(c, &r, "/hello.php", NULL);
    CHECK(ok && strcmp(r.body, "Hello, world!\n") == 0,
          "body without CONTENT_LENGTH: next request in sync");
    resp_free(&r);
}

static void test_upload(struct conn *c)
{
    struct resp r;
    const char *boundary = "----phpwBoundary7MA4YWxkTrZu0gW";
    struct buf body = {0};
    char line[512];
    snprintf(line, sizeof(line),
             "--%s\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue1\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"up\"; filename=\"data.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n",
             boundary, boundary);
    buf_add(&body, line, strlen(line));
    size_t fsize = 100000;
    unsigned char *file = malloc(fsize);
    for (size_t i = 0; i < fsize; i++)
        file[i] = (unsigned char)(i * 31 + 7);
    buf_add(&body, file, fsize);
    snprintf(line, sizeof(line), "\r\n--%s--\r\n", boundary);
    buf_add(&body, line, strlen(line));
    char ctype[256];
    snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
    const char *extra[] = {"CONTENT_TYPE", ctype, NULL};
    int ok = request(c, &r, "POST", "/upload.php", NULL, extra, body.p, body.len);
    CHECK(ok && strstr(r.body, "NAME=data.bin\n") && strstr(r.body, "SIZE=100000\n") &&
              strstr(r.body, "ERROR=0\n") && strstr(r.body, "FIELD=value1\n"),
          "multipart: $_FILES and $_POST");
    CHECK(strstr(r.body, "UPLOADED=yes\n") && strstr(r.body, "MOVED=yes\n"),
          "multipart: is_uploaded_file and move_uploaded_file");
    CHECK(strstr(r.body, "CONTENT=same\n") != NULL, "multipart: moved file has the bytes sent");
    free(file);
    buf_free(&body);
    resp_free(&r);
}

static void test_cookies_headers(struct conn *c)
{
    struct resp r;
    const char *ck[] = {"HTTP_COOKIE", "b=2; a=hello%20there; c=x", NULL};
    int ok = request(c, &r, "GET", "/cookies.php", NULL, ck, NULL, 0);
    CHECK(ok && strcmp(r.body, "a=hello there\nb=2\nc=x\n") == 0, "cookies: $_COOKIE");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=cookies");
    CHECK(ok && starts_with(r.headers, "Status: 201 Created\r\n"), "headers: Status line first");
    CHECK(has_header(&r, "X-A: 1") && has_header(&r, "Set-Cookie: a=1") &&
              has_header(&r, "Set-Cookie: b=2"),
          "headers: custom header and two Set-Cookie");
    CHECK(strstr(r.headers, "X-Remove") == NULL, "headers: header_remove");
    CHECK(strcmp(r.body, "ok") == 0, "headers: body");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=statusline");
    CHECK(ok && starts_with(r.headers, "Status: 418 I'm a teapot\r\n"),
          "headers: header('HTTP/1.1 418 ...') becomes Status: with its reason");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=statusheader");
    CHECK(ok && starts_with(r.headers, "Status: 299 Custom Thing\r\n") &&
              strstr(r.headers + 5, "Status:") == NULL,
          "headers: a Status: header is sent once, as given");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=notmodified");
    CHECK(ok && starts_with(r.headers, "Status: 304 Not Modified\r\n") &&
              strcasestr(r.headers, "Content-type") == NULL && r.body[0] == '\0',
          "headers: 304 without Content-Type");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=location");
    CHECK(ok && starts_with(r.headers, "Status: 302 Found\r\n") &&
              has_header(&r, "Location: /elsewhere"),
          "headers: Location gives 302");
    resp_free(&r);

    ok = simple(c, &r, "/headers.php", "mode=unknowncode");
    CHECK(ok && starts_with(r.headers, "Status: 599\r\n"), "headers: unknown code, no reason");
    resp_free(&r);

    ok = simple(c, &r, "/allheaders.php", NULL);
    CHECK(ok && strstr(r.body, "Host: localhost\n") && strstr(r.body, "SAME=yes\n") &&
              !strstr(r.body, "Script-Filename"),
          "getallheaders / apache_request_headers");
    resp_free(&r);
}

static void test_output(struct conn *c)
{
    struct resp r;
    int ok = simple(c, &r, "/ob.php", NULL);
    const char *exp_md5 = "MD5=";
    CHECK(ok && starts_with(r.body, "ab0123456789abcdef"), "output: ob_flush / flush order");
    size_t blen = strlen(r.body);
    CHECK(blen == 2 + 262144 + 1 + 4 + 32 + 1 && strstr(r.body, exp_md5),
          "output: 256 KiB through direct records, byte count exact");
    int good = 1;
    for (size_t i = 0; i < 262144 && blen > 2 + 262144; i++)
        if (r.body[2 + i] != "0123456789abcdef"[i % 16]) good = 0;
    CHECK(good, "output: 256 KiB content intact");
    resp_free(&r);
}

static void test_finish_request(struct conn *c)
{
    struct resp r;
    char marker[PATH_MAX + 32], q[PATH_MAX + 64];
    snprintf(marker, sizeof(marker), "%s/finish_marker", tmpdir);
    unlink(marker);
    snprintf(q, sizeof(q), "marker=%s", marker);
    long long t0 = now_ms();
    int ok = simple(c, &r, "/finish.php", q);
    long long t1 = now_ms();
    CHECK(ok && r.app_status == PHPW_APP_STATUS_FINISHED, "finish_request: END_REQUEST 0xFFFFFFFE");
    CHECK(r.stdout_eof && strcmp(r.body, "before\n") == 0 && !r.bad,
          "finish_request: response is what came before");
    CHECK(t1 - t0 < 900, "finish_request: response arrives before the script ends");
    struct stat st;
    CHECK(stat(marker, &st) != 0, "finish_request: script still running at the first END");

    /* the next record must be the idle END_REQUEST, appStatus 0, nothing before it */
    struct buf content = {0};
    int type = 0;
    int rr = read_record(c, &type, &content, REQ_TIMEOUT_MS);
    CHECK(rr == 1 && type == END && content.len == 8 &&
              memcmp(content.p, "\0\0\0\0\0\0\0\0", 8) == 0,
          "finish_request: then one idle END_REQUEST, appStatus 0");
    buf_free(&content);
    char *m = slurp(marker);
    CHECK(m && strstr(m, "true") && strstr(m, "false"),
          "finish_request: script ran to the end, second call returned false");
    free(m);
    unlink(marker);
    resp_free(&r);

    ok = simple(c, &r, "/hello.php", NULL);
    CHECK(ok && r.app_status == 0 && strcmp(r.body, "Hello, world!\n") == 0,
          "finish_request: worker serves the next request");
    resp_free(&r);
}

static void test_errors(struct conn *c)
{
    struct resp r;
    int ok = simple(c, &r, "/missing.php", NULL);
    CHECK(ok && strcmp((char *)r.out.p,
                       "Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\n"
                       "File not found.\n") == 0,
          "missing script: 404 File not found.");
    CHECK(strcmp((char *)r.err.p, "Primary script unknown") == 0,
          "missing script: 'Primary script unknown' on FastCGI stderr");
    resp_free(&r);

    /* a file PHP must not run: made in tmpdir, outside the fixtures */
    char secret[PATH_MAX + 32];
    snprintf(secret, sizeof(secret), "%s/secret.txt", tmpdir);
    FILE *f = fopen(secret, "w");
    if (f) {
        fputs("<?php echo 'ran';\n", f);
        fclose(f);
    }
    struct buf p = {0};
    param(&p, "SCRIPT_FILENAME", secret);
    param(&p, "REQUEST_METHOD", "GET");
    param(&p, "SCRIPT_NAME", "/secret.txt");
    ok = send_request(c->fd, &p, NULL, 0, 0) == 0 && read_response(c, &r, REQ_TIMEOUT_MS);
    buf_free(&p);
    CHECK(ok && starts_with((char *)r.out.p, "Status: 403 Forbidden\r\n") &&
              strcmp(r.body, "Access denied.\n") == 0,
          "limit_extensions: 403 Access denied.");
    CHECK(
        strstr((char *)r.err.p, "Access to the script '") &&
            strstr((char *)r.err.p, "secret.txt' has been denied (see security.limit_extensions)"),
        "limit_extensions: logged as php-fpm");
    resp_free(&r);
    unlink(secret);

    ok = simple(c, &r, "/fatal.php", NULL);
    CHECK(ok && starts_with(r.headers, "Status: 500 Internal Server Error\r\n") &&
              strcmp(r.body, "partial") == 0,
          "fatal error: 500, output so far");
    CHECK(starts_with((char *)r.err.p, "PHP message: PHP Fatal error:  Uncaught Error: Call to "
                                       "undefined function undefined_function_phpw()"),
          "fatal error: 'PHP message: ...' on FastCGI stderr");
    resp_free(&r);
    ok = simple(c, &r, "/hello.php", NULL);
    CHECK(ok && strcmp((char *)r.out.p,
                       "Content-type: text/html; charset=UTF-8\r\n\r\nHello, world!\n") == 0,
          "fatal error: next request fine");
    resp_free(&r);

    ok = simple(c, &r, "/exception.php", NULL);
    CHECK(ok && starts_with(r.headers, "Status: 500 Internal Server Error\r\n") &&
              strstr((char *)r.err.p, "Uncaught RuntimeException: boom from phpw"),
          "uncaught exception: 500 and logged");
    resp_free(&r);

    ok = simple(c, &r, "/exit.php", NULL);
    CHECK(ok && strcmp(r.body, "x[shutdown]") == 0 && !strstr(r.headers, "Status:"),
          "exit(): output so far, shutdown functions, 200");
    resp_free(&r);

    ok = simple(c, &r, "/memory.php", NULL);
    CHECK(ok && starts_with(r.headers, "Status: 500 Internal Server Error\r\n") &&
              strstr((char *)r.err.p, "Allowed memory size of 16777216 bytes exhausted"),
          "memory_limit: fatal, 500");
    resp_free(&r);
    ok = simple(c, &r, "/memory.php", "show=1");
    CHECK(ok && strcmp(r.body, "128M") == 0, "memory_limit: back to php.ini's value next request");
    resp_free(&r);

    ok = simple(c, &r, "/log.php", NULL);
    CHECK(ok && strcmp(r.body, "logged") == 0 &&
              strstr((char *)r.err.p, "PHP message: first message from phpw; PHP message: PHP "
                                      "Warning:  second message in "),
          "error_log / warnings: joined with '; ' on FastCGI stderr");
    resp_free(&r);
}

static int write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    int r = fputs(data, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? r : -1;
}

/* Requests on a docroot made in tmpdir: .user.ini, REQUEST_BODY_FILE, fastcgi.error_header. */
static void test_docroot_features(struct conn *c)
{
    char dir[PATH_MAX + 16], path[PATH_MAX + 64], sf[PATH_MAX + 64];
    snprintf(dir, sizeof(dir), "%s/root", tmpdir);
    snprintf(path, sizeof(path), "%s/ui", dir);
    int made = mkdir(dir, 0700) == 0 && mkdir(path, 0700) == 0;
    snprintf(path, sizeof(path), "%s/ui/.user.ini", dir);
    made = made && write_file(path, "serialize_precision = 3\n") == 0;
    snprintf(path, sizeof(path), "%s/ui/show.php", dir);
    made = made && write_file(path, "<?php echo ini_get('serialize_precision');") == 0;
    snprintf(path, sizeof(path), "%s/body.txt", dir);
    made = made && write_file(path, "filebody=1&x=2") == 0;
    CHECK(made, "temp docroot created");

    struct resp r;
    struct buf p = {0};
    snprintf(sf, sizeof(sf), "%s/ui/show.php", dir);
    param(&p, "SCRIPT_FILENAME", sf);
    param(&p, "REQUEST_METHOD", "GET");
    param(&p, "DOCUMENT_ROOT", dir);
    param(&p, "SCRIPT_NAME", "/ui/show.php");
    int ok = send_request(c->fd, &p, NULL, 0, 0) == 0 && read_response(c, &r, REQ_TIMEOUT_MS);
    buf_free(&p);
    CHECK(ok && strcmp(r.body, "3") == 0, ".user.ini: read from the script's directory");
    resp_free(&r);

    /* nginx's client_body_in_file_only: the body comes from REQUEST_BODY_FILE */
    const char *bf[] = {"CONTENT_TYPE",
                        "application/x-www-form-urlencoded",
                        "CONTENT_LENGTH",
                        "14",
                        "REQUEST_BODY_FILE",
                        path,
                        NULL};
    ok = request(c, &r, "POST", "/form.php", NULL, bf, NULL, 0);
    CHECK(ok && strstr(r.body, "POST=filebody=1&x=2\n"), "REQUEST_BODY_FILE: body read from file");
    resp_free(&r);

    const char *eh[] = {"PHP_ADMIN_VALUE",
                        "fastcgi.error_header=\"HTTP/1.1 503 Service Unavailable\"", NULL};
    ok = request(c, &r, "GET", "/exception.php", NULL, eh, NULL, 0);
    CHECK(ok && starts_with(r.headers, "Status: 503 Service Unavailable\r\n"),
          "fastcgi.error_header: replaces the status of a fatal error");
    resp_free(&r);
    ok = simple(c, &r, "/exception.php", NULL);
    CHECK(ok && starts_with(r.headers, "Status: 500 Internal Server Error\r\n"),
          "fastcgi.error_header: only for that request");
    resp_free(&r);

    /* a message longer than log_limit (1024) is cut with "..." as php-fpm's zlog cuts it */
    ok = simple(c, &r, "/log.php", "long=1");
    CHECK(ok && r.err.len == 1015 + strlen("; PHP message: short") &&
              memcmp(r.err.p + 1012, "...; PHP message: short", 23) == 0,
          "log_limit: long message cut to php-fpm's length");
    resp_free(&r);

    snprintf(path, sizeof(path), "%s/ui/.user.ini", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ui/show.php", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ui", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/body.txt", dir);
    unlink(path);
    rmdir(dir);
}

static void test_ini(struct conn *c)
{
    struct resp r;
    int ok = simple(c, &r, "/ini.php", NULL);
    CHECK(ok && strstr(r.body, "precision=10\n") && strstr(r.body, "SET_PRECISION=false\n"),
          "php_admin_value: applied, ini_set() refused");
    CHECK(strstr(r.body, "date.timezone=UTC\n") && strstr(r.body, "SET_TZ='UTC'\n"),
          "php_value: applied, ini_set() allowed");
    CHECK(strstr(r.body, "EXEC=gone\n") && strstr(r.body, "disable_functions=exec,passthru\n"),
          "php_admin_value[disable_functions]: functions removed");
    resp_free(&r);

    const char *pv[] = {"PHP_VALUE", "serialize_precision=5\nmax_input_nesting_level=7",
                        "PHP_ADMIN_VALUE", "arg_separator.output=\"&amp;\"", NULL};
    ok = request(c, &r, "GET", "/ini.php", NULL, pv, NULL, 0);
    CHECK(ok && strstr(r.body, "serialize_precision=5\n") &&
              strstr(r.body, "max_input_nesting_level=7\n"),
          "PHP_VALUE: applied to the request");
    CHECK(strstr(r.body, "arg_separator.output=&amp;\n") && strstr(r.body, "SET_ARGSEP=false\n"),
          "PHP_ADMIN_VALUE: applied and not changeable by ini_set()");
    resp_free(&r);

    ok = simple(c, &r, "/ini.php", NULL);
    CHECK(ok && strstr(r.body, "serialize_precision=-1\n") &&
              strstr(r.body, "max_input_nesting_level=64\n") &&
              strstr(r.body, "arg_separator.output=&\n") && strstr(r.body, "SET_ARGSEP='&'\n") &&
              strstr(r.body, "date.timezone=UTC\n") && strstr(r.body, "serialize_precision=-1\n"),
          "PHP_VALUE / PHP_ADMIN_VALUE: nothing leaks into the next request");
    resp_free(&r);
}

static void test_state(struct conn *c)
{
    struct resp r;
    int ok;
    if (UNDER_ASAN) {
        printf("SKIP: opcache: not loadable under AddressSanitizer\n");
    } else {
        ok = simple(c, &r, "/opcache.php", NULL);
        CHECK(ok && strstr(r.body, "OPCACHE=on\n"), "opcache: enabled in the worker");
        resp_free(&r);
    }

    for (int i = 0; i < 2; i++) {
        ok = simple(c, &r, "/state.php", NULL);
        CHECK(ok && strstr(r.body, "GLOBAL=clean\n") && strstr(r.body, "STATIC=1\n") &&
                  strstr(r.body, "CONST=clean\n") && strstr(r.body, "CLASS=clean\n") &&
                  strstr(r.body, "HEADERS=0\n"),
              i == 0 ? "state: first run clean" : "state: globals, statics, classes don't leak");
        resp_free(&r);
    }
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A resident bootstrap that returns by itself (sapi/phpw.h): the leaving notice, then requests
 * sent after it are answered UNSERVED, unrun, until the channel closes. */
static void test_resident_returns(const struct phpw_worker_opts *tmpl, const char *errlog)
{
    char boot[PATH_MAX + 32];
    snprintf(boot, sizeof(boot), "%s/resident-returns.php", docroot);
    struct phpw_worker_opts o = *tmpl;
    o.bootstrap = boot;
    struct conn c;
    pid_t pid = spawn_worker(&c, &o, errlog);
    struct resp r;
    int ok = simple(&c, &r, "/hello.php", NULL);
    CHECK(ok && r.app_status == 0 && strcmp(r.body, "served 1\n") == 0,
          "resident returns: first request served");
    resp_free(&r);
    ok = simple(&c, &r, "/hello.php", NULL);
    CHECK(ok && r.app_status == 0 && strcmp(r.body, "served 2\n") == 0,
          "resident returns: last request served, appStatus 0 (the worker cannot know yet)");
    resp_free(&r);

    /* The master did not know: it sends the next request, with a body, before the notice. */
    struct buf p = {0};
    std_params(&p, "POST", "/hello.php", NULL);
    param(&p, "CONTENT_LENGTH", "100000");
    char *body = malloc(100000);
    memset(body, 'b', 100000);
    CHECK(send_request(c.fd, &p, body, 100000, 16384) == 0, "resident returns: request sent");
    free(body);
    struct buf content = {0};
    int type = 0;
    int rr = read_record(&c, &type, &content, REQ_TIMEOUT_MS);
    CHECK(rr == 1 && type == END && c.last_id == 0 && content.len == 8 &&
              get32(content.p) == PHPW_APP_STATUS_LEAVING && content.p[4] == 0,
          "resident returns: leaving notice, END_REQUEST id 0 appStatus 0xFFFFFFFD");
    rr = read_record(&c, &type, &content, REQ_TIMEOUT_MS);
    CHECK(rr == 1 && type == END && c.last_id == 1 && content.len == 8 &&
              get32(content.p) == PHPW_APP_STATUS_UNSERVED,
          "resident returns: the request sent meanwhile is answered END_REQUEST 0xFFFFFFFC alone");

    /* Its body was read to the end: another request is answered the same way. */
    p.len = 0;
    std_params(&p, "GET", "/hello.php", NULL);
    CHECK(send_request(c.fd, &p, NULL, 0, 0) == 0, "resident returns: second request sent");
    rr = read_record(&c, &type, &content, REQ_TIMEOUT_MS);
    CHECK(rr == 1 && type == END && c.last_id == 1 && content.len == 8 &&
              get32(content.p) == PHPW_APP_STATUS_UNSERVED,
          "resident returns: every request until the channel closes is answered UNSERVED");
    buf_free(&content);
    buf_free(&p);
    int st = stop_worker(&c, pid);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "resident returns: the worker exits 0 when the channel closes");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (realpath("tests/fixtures/sapi", docroot) == NULL) {
        printf("FAIL: tests/fixtures/sapi not found (run from the repository root)\n");
        return 1;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/phpw_test.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    setenv("PHPW_TEST_ENV", "from-environment", 1);

    char err[256] = "";
    /* The php.ini settings these tests rely on, whatever the machine's php.ini says (they are
     * Debian's production values, which php-fpm also runs with). */
    static const char *const defines[] = {
        "display_errors=0",      "log_errors=1",           "html_errors=0",
        "expose_php=0",          "output_buffering=4096",  "memory_limit=128M",
        "post_max_size=8M",      "upload_max_filesize=2M", "error_log=",
        "default_charset=UTF-8", "variables_order=GPCS",   "request_order=GP",
        "register_argc_argv=0"};
    struct phpw_engine_opts eo = {.no_php_ini = UNDER_ASAN,
                                  .defines = defines,
                                  .n_defines = sizeof(defines) / sizeof(*defines)};
    int rc = phpw_engine_start(&eo, err, sizeof(err));
    CHECK(rc == 0, "engine starts");
    if (rc != 0) {
        printf("    %s\n", err);
        return CHECK_DONE();
    }
    CHECK(strncmp(phpw_php_version(), "8.2.", 4) == 0, "PHP version is 8.2.x");

    static const struct phpw_ini ini[] = {
        {"precision", "10", 1},
        {"date.timezone", "UTC", 0},
        {"no_such_directive_phpw", "1", 0},
        {"disable_functions", "exec,passthru", 1},
    };
    static const char *const exts[] = {".php", ".phar", NULL};
    struct phpw_worker_opts wo = {.pool = "test",
                                  .ini = ini,
                                  .n_ini = sizeof(ini) / sizeof(*ini),
                                  .limit_extensions = exts,
                                  .log_limit = 0};

    char errlog[PATH_MAX + 32];
    snprintf(errlog, sizeof(errlog), "%s/worker.stderr", tmpdir);
    struct conn c;
    pid_t pid = spawn_worker(&c, &wo, errlog);

    test_basic(&c);
    test_server_vars(&c);
    test_forms(&c);
    test_upload(&c);
    test_cookies_headers(&c);
    test_output(&c);
    test_finish_request(&c);
    test_errors(&c);
    test_docroot_features(&c);
    test_ini(&c);
    test_state(&c);

    int st = stop_worker(&c, pid);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "worker returns 0 when the master closes the channel");

    char *log = slurp(errlog);
    CHECK(log && strstr(log, "ERROR: Unable to set php_value 'no_such_directive_phpw'\n"),
          "worker stderr: unknown pool directive reported as php-fpm");
    CHECK(log && strstr(log, "NOTICE: PHP message: PHP Fatal error:  Uncaught Error"),
          "worker stderr: PHP messages as a php-fpm child writes them");
    CHECK(log && !strstr(log, "Primary script unknown"), "worker stderr: no DEBUG lines");
    free(log);

    /* A second worker: the master's channel closed while idle, at once */
    pid = spawn_worker(&c, &wo, errlog);
    st = stop_worker(&c, pid);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "idle worker exits on close");

    test_resident_returns(&wo, errlog);

    unlink(errlog);
    rmdir(tmpdir);
    phpw_engine_stop();
    return CHECK_DONE();
}
