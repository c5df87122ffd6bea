/* From a parsed HTTP request to what a PHP worker receives: the route (which script runs, or which
 * static file is served) and the CGI/1.1 variables as FastCGI name-value pairs, the same ones
 * php-fpm gets from nginx with Debian's snippets/fastcgi-php.conf and fastcgi.conf, so a script
 * sees the same $_SERVER behind direct HTTP or proxy_pass as behind fastcgi_pass.
 *
 * Routing follows this nginx configuration:
 *     location / { try_files $uri /index.php?$query_string; }   (http.index = index.php)
 *     location ~ [^/]\.php(/|$) {
 *         fastcgi_split_path_info ^(.+?\.php)(/.*)$;  try_files $fastcgi_script_name =404; ... }
 * with `index index.php index.html` for paths ending in '/' (index.html when http.static is on;
 * such a path is never redirected, and "/dir" naming a directory is a 301 to "/dir/"). A ".php"
 * script that does not exist goes to the front controller too (http.index: "paths that are not
 * files go to it"). Static files are never served from a path with a segment starting with '.',
 * nor with a PHP-like extension (any case).
 *
 * Pure functions over caller-owned memory; the one filesystem question (does this path name a
 * regular file?) is asked through a callback, so the caller decides how (fstatat, a cache, a fake
 * in tests) and must make it refuse symlinks leading out of document_root (openat2 with
 * RESOLVE_BENEATH, or a realpath prefix check): the path given to it never escapes
 * document_root lexically, since "..", "%2e%2e", "%2F" tricks are resolved before it is built. */
#ifndef PHPMGR_HTTP_PARAMS_H
#define PHPMGR_HTTP_PARAMS_H

#include "http.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http_str {
    const char *p;
    size_t len;
};

enum http_file_kind { HTTP_FILE_NONE, HTTP_FILE_REGULAR, HTTP_FILE_OTHER, HTTP_FILE_DIR };

/* What path (NUL-terminated, len bytes, document_root + "/...") is. */
typedef int (*http_stat_fn)(void *ctx, const char *path, size_t len);

/* Per HTTP listener: constant while the configuration is. */
struct http_site {
    struct http_str document_root; /* absolute, no trailing '/' (http.document_root) */
    struct http_str index;         /* front controller file name, e.g. "index.php"; len 0: none */
    struct http_str server_name;   /* SERVER_NAME; empty as nginx with no server_name */
    uint8_t static_files;          /* http.static: serve existing non-PHP files */
    uint8_t path_info;             /* split "/x.php/more" into script and PATH_INFO; 0: only
                                    * paths ending in ".php" are scripts (location ~ \.php$) */
    http_stat_fn stat;             /* NULL: no filesystem checks (scripts assumed to exist,
                                    * nothing static) */
    void *stat_ctx;
};

/* Per connection (REMOTE_* already resolved through trusted proxies by the caller). */
struct http_conn_info {
    struct http_str server_addr, server_port, remote_addr, remote_port;
    uint8_t https;
};

enum http_route_kind {
    HTTP_ROUTE_SCRIPT, /* run filename (SCRIPT_FILENAME) in a worker */
    HTTP_ROUTE_STATIC, /* serve filename from disk */
    HTTP_ROUTE_ERROR,  /* answer status: 400 bad path, 404 nothing to run, 414 path too long */
    HTTP_ROUTE_REDIRECT, /* a directory named without its '/': 301 to uri + "/" (nginx) */
};

/* Strings point into the caller's scratch buffer or the site's strings. */
struct http_route {
    uint8_t kind;
    uint16_t status;
    struct http_str uri;          /* $uri: the path decoded and normalised */
    struct http_str script_name;  /* SCRIPT_NAME */
    struct http_str path_info;    /* PATH_INFO, possibly empty */
    struct http_str document_uri; /* DOCUMENT_URI: uri, or the index script it was rewritten to */
    struct http_str filename;     /* SCRIPT_FILENAME or the static file; NUL-terminated */
};

/* Percent-decode and normalise a path as nginx does before matching locations: "%XX" decoded
 * (so "%2e%2e" and "%2F" act as ".." and "/"), "//" merged, "." segments removed, ".." removes the
 * previous segment. Writes at most len bytes to out (cap >= len is always enough). Returns the
 * length, or -1 when the path does not start with '/', has a bad escape, contains or decodes to
 * a NUL, or climbs above the root with "..". */
ssize_t http_path_normalize(const uint8_t *in, size_t len, char *out, size_t cap);

/* Route a parsed request (buf is the buffer it was parsed from). scratch receives the decoded
 * path and the file name: 2 * path length + 2 * index length + document_root length + 16 bytes
 * always suffice (the 16 covers "index.html" when there is no or a short index); with less the
 * answer is 414 or the same route, never another one. Returns rt->kind. */
int http_route(const struct http_site *site, const struct http_request *req, const uint8_t *buf,
               char *scratch, size_t cap, struct http_route *rt);

/* Encode the CGI/1.1 variables of a routed request as FastCGI name-value pairs (PARAMS content)
 * into out: PATH_INFO, SCRIPT_FILENAME, QUERY_STRING, REQUEST_METHOD, CONTENT_TYPE, CONTENT_LENGTH,
 * SCRIPT_NAME, REQUEST_URI (as sent), DOCUMENT_URI, DOCUMENT_ROOT, SERVER_PROTOCOL,
 * REQUEST_SCHEME, HTTPS ("on", only when https), GATEWAY_INTERFACE, SERVER_SOFTWARE, REMOTE_ADDR,
 * REMOTE_PORT, REMOTE_USER (empty), SERVER_ADDR, SERVER_PORT, SERVER_NAME, REDIRECT_STATUS, then
 * one HTTP_* per header name in request order, as nginx: upper case, '-' to '_', repeated names
 * joined with ", " (Cookie with "; "), names with other characters than letters, digits and '-'
 * dropped (nginx's ignore_invalid_headers, so "X_Forwarded_For" cannot pose as
 * "X-Forwarded-For"), and Proxy dropped (httpoxy). CONTENT_LENGTH is the header as sent, or
 * chunked_len for a chunked body (de-chunked before the worker sees it), or empty.
 * Returns the size of the whole encoding; when it exceeds cap the output is incomplete (call
 * again with a larger buffer). */
size_t http_params_encode(uint8_t *out, size_t cap, const struct http_site *site,
                          const struct http_conn_info *conn, const struct http_request *req,
                          const uint8_t *buf, const struct http_route *rt, uint64_t chunked_len);

#endif
