/* Static files under an HTTP site's document root, as nginx's static, range and not-modified
 * filters answer them: GET and HEAD, ETag and Last-Modified, If-None-Match / If-Modified-Since
 * (304), a single byte range (206, 416, If-Range), and the file's bytes to send. Pure decision:
 * the caller queues the head and sends the file (by splice, see conn_send_file). */
#ifndef PHPMGR_STATIC_FILE_H
#define PHPMGR_STATIC_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct static_request {
    int root_fd;          /* the document root (O_PATH) */
    const char *root;     /* its absolute path */
    const char *filename; /* the routed file: root + "/" + relative path */
    const struct http_request *req;
    const uint8_t *head; /* the bytes req's spans point into */
    int keep_alive;
    const char *date; /* the Date header's value */
};

#define STATIC_HEAD_MAX 1024

struct static_answer {
    int status;      /* 200, 206, 304, 416; or 404 with head_len 0: answer it plainly */
    size_t head_len; /* the response head in head[] */
    char head[STATIC_HEAD_MAX];
    int fd;          /* >= 0: send len bytes from off after the head (the caller owns fd) */
    uint64_t off, len;
};

/* The answer to sr (GET or HEAD only). A file that is not a regular file (a directory, a FIFO,
 * a device) or that resolves outside the root is 404; nothing here ever blocks on it. */
void static_file_answer(const struct static_request *sr, struct static_answer *out);

#endif
