/* The HTTP/1.1 side of a client connection (phpmgr as a web server or as nginx's proxy_pass
 * upstream): a request is read completely (head, then body, de-chunked) before a worker is taken,
 * routed like nginx's `try_files $uri /index.php?$query_string`, turned into the CGI variables
 * nginx's fastcgi_params give php-fpm, and the worker's CGI output becomes an HTTP/1.1 response.
 * Static files under the document root are served here. */
#ifndef PHPMGR_HTTP_CONN_H
#define PHPMGR_HTTP_CONN_H

#include <stddef.h>

struct conn;
struct pool_config;
struct http_site_ctx;

/* A listener's site: document root, front controller, limits, timeouts, trusted proxies, from
 * the pool's http.* keys. NULL with a message in err. */
struct http_site_ctx *http_conn_site_new(const struct pool_config *pc, char *err, size_t errlen);
void http_conn_site_free(struct http_site_ctx *site);

/* Attach HTTP state to a freshly accepted connection (called by conn.c). 0 or -1. */
int http_conn_attach(struct conn *c, const void *site);

#endif
