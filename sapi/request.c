/* Per-request SAPI callbacks, each matching what php-fpm (sapi/fpm/fpm/fpm_main.c) does: request
 * info from the FastCGI params (with cgi.fix_pathinfo), $_SERVER, php://input, the CGI header
 * block, output through libfcgi, logging to FastCGI stderr, .user.ini files. */
#include "phpw_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../src/fdio.h"
#include "../src/log.h"
#include "SAPI.h"
#include "ext/standard/url.h"
#include "http_status_codes.h"
#include "php_ini.h"
#include "php_main.h"
#include "php_variables.h"

#define P(name) PHPW_PARAM(&rq->params, name)
#define PUT(name, value) phpw_param_put(&rq->params, name, value)

/* ---- request info: php-fpm's init_request_info() ---- */

/* Refuse a translated path with a ".." segment, as php-fpm does. */
static bool is_valid_path(const char *path)
{
    if (path == NULL) return false;
    const char *p = strstr(path, "..");
    if (p == NULL) return true;
    if ((p == path || IS_SLASH(p[-1])) && (p[2] == '\0' || IS_SLASH(p[2]))) return false;
    while ((p = strstr(p + 1, "..")) != NULL) {
        if (IS_SLASH(p[-1]) && (p[2] == '\0' || IS_SLASH(p[2]))) return false;
    }
    return true;
}

/* Apache mod_proxy_fcgi / mod_proxy_balancer send SCRIPT_FILENAME as
 * "proxy:fcgi://host:port/dir/info.php/test?x": keep the path only (php bugs 54152, 62172). */
static void strip_proxy_prefix(char *sf, const char *prefix, int *apache_was_here)
{
    size_t plen = strlen(prefix);
    if (strncasecmp(sf, prefix, plen) != 0) return;
    char *p = sf + plen;
    while (*p != '\0' && *p != '/')
        p++;
    if (*p != '\0') {
        memmove(sf, p, strlen(p) + 1);
        *apache_was_here = 1;
    }
    p = strchr(sf, '?');
    if (p != NULL) *p = '\0';
}

/* PATH_TRANSLATED = base (first base_len bytes) + PATH_INFO, stored as a param. */
static char *put_path_translated(struct phpw_req *rq, const char *base, size_t base_len,
                                 const char *path_info, const char *orig_path_translated)
{
    size_t pi_len = path_info ? strlen(path_info) : 0;
    char *pt = emalloc(base_len + pi_len + 1);
    memcpy(pt, base, base_len);
    if (pi_len) memcpy(pt + base_len, path_info, pi_len);
    pt[base_len + pi_len] = '\0';
    if (orig_path_translated) PUT("ORIG_PATH_TRANSLATED", orig_path_translated);
    char *r = PUT("PATH_TRANSLATED", pt);
    efree(pt);
    return r;
}

/* cgi.fix_pathinfo=1: find the script by walking SCRIPT_FILENAME back to an existing file and
 * derive PATH_INFO, PATH_TRANSLATED and SCRIPT_NAME from what was cut off, keeping the originals
 * as ORIG_* params. Returns the script path (NULL when none exists). */
static char *fix_pathinfo(struct phpw_req *rq, char *script_path_translated,
                          char *env_script_filename, char *env_path_translated, char *env_path_info,
                          char *env_script_name, int apache_was_here)
{
    char *real_path = NULL;
    char *env_redirect_url = P("REDIRECT_URL");
    char *env_document_root = P("DOCUMENT_ROOT");
    char *orig_path_translated = env_path_translated;
    char *orig_path_info = env_path_info;
    char *orig_script_name = env_script_name;
    char *orig_script_filename = env_script_filename;
    size_t spt_len;

    if (!env_document_root && PG(doc_root)) {
        env_document_root = PUT("DOCUMENT_ROOT", PG(doc_root));
    }

    if (!apache_was_here && env_path_translated != NULL && env_redirect_url != NULL &&
        env_path_translated != script_path_translated &&
        strcmp(env_path_translated, script_path_translated) != 0) {
        /* Apache mod_fastcgi with an Action: SCRIPT_FILENAME names the PHP binary. */
        script_path_translated = env_path_translated;
        env_script_name = env_redirect_url;
    }

    if (script_path_translated && (spt_len = strlen(script_path_translated)) > 0 &&
        (script_path_translated[spt_len - 1] == '/' ||
         (real_path = tsrm_realpath(script_path_translated, NULL)) == NULL)) {
        /* The file does not exist: strip trailing segments until one is a regular file. */
        char *pt = estrndup(script_path_translated, spt_len);
        size_t len = spt_len;
        char *ptr;
        struct stat st;

        while ((ptr = strrchr(pt, '/')) || (ptr = strrchr(pt, '\\'))) {
            *ptr = '\0';
            if (stat(pt, &st) != 0 || !S_ISREG(st.st_mode)) continue;

            size_t ptlen = strlen(pt);
            size_t slen = len - ptlen; /* bytes cut off the end */
            size_t pilen = env_path_info ? strlen(env_path_info) : 0;
            int tflag;
            char *path_info;
            if (apache_was_here) {
                /* mod_proxy_fcgi sends no PATH_INFO: it is what was cut off */
                path_info = script_path_translated + ptlen;
                tflag = slen != 0 && (!orig_path_info || strcmp(orig_path_info, path_info) != 0);
            } else {
                path_info = (env_path_info && pilen > slen) ? env_path_info + pilen - slen : NULL;
                tflag = path_info && orig_path_info != path_info;
            }

            if (tflag) {
                if (orig_path_info) {
                    PUT("ORIG_PATH_INFO", orig_path_info);
                    char old = path_info[0];
                    path_info[0] = '\0'; /* env_path_info now holds SCRIPT_NAME */
                    if (!orig_script_name || strcmp(orig_script_name, env_path_info) != 0) {
                        if (orig_script_name) PUT("ORIG_SCRIPT_NAME", orig_script_name);
                        SG(request_info).request_uri = PUT("SCRIPT_NAME", env_path_info);
                    } else {
                        SG(request_info).request_uri = orig_script_name;
                    }
                    path_info[0] = old;
                } else if (apache_was_here && env_script_name) {
                    /* ProxyPass: PATH_INFO is probably also at the end of SCRIPT_NAME, maybe
                     * url-encoded there; remove it. */
                    char *decoded = NULL;
                    size_t decoded_len = 0;
                    if (strchr(path_info, '%')) {
                        decoded = estrdup(path_info);
                        decoded_len = php_raw_url_decode(decoded, strlen(path_info));
                    }
                    size_t snlen = strlen(env_script_name);
                    size_t start = 0;
                    if ((snlen > slen &&
                         !strcmp(env_script_name + (start = snlen - slen), path_info)) ||
                        (decoded && snlen > decoded_len &&
                         !strcmp(env_script_name + (start = snlen - decoded_len), decoded))) {
                        PUT("ORIG_SCRIPT_NAME", orig_script_name);
                        env_script_name[start] = '\0';
                        SG(request_info).request_uri = PUT("SCRIPT_NAME", env_script_name);
                    }
                    if (decoded) efree(decoded);
                }
                env_path_info = PUT("PATH_INFO", path_info);
            }
            if (!orig_script_filename || strcmp(orig_script_filename, pt) != 0) {
                if (orig_script_filename) PUT("ORIG_SCRIPT_FILENAME", orig_script_filename);
                script_path_translated = PUT("SCRIPT_FILENAME", pt);
            }

            if (env_document_root) {
                /* PATH_TRANSLATED = DOCUMENT_ROOT + PATH_INFO */
                size_t l = strlen(env_document_root);
                if (l && env_document_root[l - 1] == '/') --l;
                env_path_translated = put_path_translated(rq, env_document_root, l, env_path_info,
                                                          orig_path_translated);
            } else if (env_script_name && strstr(pt, env_script_name)) {
                /* PATH_TRANSLATED = SCRIPT_FILENAME - SCRIPT_NAME + PATH_INFO */
                size_t base = strlen(pt) - strlen(env_script_name);
                env_path_translated =
                    put_path_translated(rq, pt, base, env_path_info, orig_path_translated);
            }
            break;
        }
        if (!ptr) {
            /* Nothing on the path exists: the request gets a 404. */
            if (orig_script_filename) PUT("ORIG_SCRIPT_FILENAME", orig_script_filename);
            script_path_translated = PUT("SCRIPT_FILENAME", NULL);
            SG(sapi_headers).http_response_code = 404;
        }
        if (!SG(request_info).request_uri) {
            if (!orig_script_name || strcmp(orig_script_name, env_script_name) != 0) {
                if (orig_script_name) PUT("ORIG_SCRIPT_NAME", orig_script_name);
                SG(request_info).request_uri = PUT("SCRIPT_NAME", env_script_name);
            } else {
                SG(request_info).request_uri = orig_script_name;
            }
        }
        efree(pt);
    } else {
        /* The file exists; remember originals in ORIG_* where we changed them. */
        if (!orig_script_filename || (script_path_translated != orig_script_filename &&
                                      strcmp(script_path_translated, orig_script_filename) != 0)) {
            if (orig_script_filename) PUT("ORIG_SCRIPT_FILENAME", orig_script_filename);
            script_path_translated = PUT("SCRIPT_FILENAME", script_path_translated);
        }
        if (!apache_was_here && env_redirect_url) {
            /* mod_fastcgi worked around through PATH_TRANSLATED: strip path info */
            if (orig_path_info) {
                PUT("ORIG_PATH_INFO", orig_path_info);
                PUT("PATH_INFO", NULL);
            }
            if (orig_path_translated) {
                PUT("ORIG_PATH_TRANSLATED", orig_path_translated);
                PUT("PATH_TRANSLATED", NULL);
            }
        }
        if (env_script_name != orig_script_name) {
            if (orig_script_name) PUT("ORIG_SCRIPT_NAME", orig_script_name);
            SG(request_info).request_uri = PUT("SCRIPT_NAME", env_script_name);
        } else {
            SG(request_info).request_uri = env_script_name;
        }
        if (real_path) efree(real_path);
    }
    return script_path_translated;
}

void phpw_init_request_info(struct phpw_req *rq)
{
    char *env_script_filename = P("SCRIPT_FILENAME");
    char *env_path_translated = P("PATH_TRANSLATED");
    char *script_path_translated = env_script_filename;
    int apache_was_here = 0;

    /* Some servers send no SCRIPT_FILENAME, only PATH_TRANSLATED. */
    if (!script_path_translated && env_path_translated) {
        script_path_translated = env_path_translated;
    }

    SG(request_info).path_translated = NULL;
    SG(request_info).request_method = P("REQUEST_METHOD");
    SG(request_info).proto_num = 1000;
    SG(request_info).query_string = NULL;
    SG(request_info).request_uri = NULL;
    SG(request_info).content_type = NULL;
    SG(request_info).content_length = 0;
    SG(sapi_headers).http_response_code = 200;

    /* Without a script path the answer is a 404 and nothing more is looked at. */
    if (script_path_translated) {
        char *content_length = P("CONTENT_LENGTH");
        char *content_type = P("CONTENT_TYPE");
        char *env_path_info = P("PATH_INFO");
        char *env_script_name = P("SCRIPT_NAME");

        /* IIS may send PATH_INFO that starts with SCRIPT_NAME. */
        char *env_server_software = P("SERVER_SOFTWARE");
        if (env_server_software && env_script_name && env_path_info &&
            strncmp(env_server_software, "Microsoft-IIS", sizeof("Microsoft-IIS") - 1) == 0 &&
            strncmp(env_path_info, env_script_name, strlen(env_script_name)) == 0) {
            env_path_info = PUT("ORIG_PATH_INFO", env_path_info);
            if (env_path_info) {
                env_path_info += strlen(env_script_name);
                if (*env_path_info == '\0') env_path_info = NULL;
            }
            env_path_info = PUT("PATH_INFO", env_path_info);
        }

        if (env_script_filename) {
            strip_proxy_prefix(env_script_filename, "proxy:fcgi://", &apache_was_here);
            strip_proxy_prefix(env_script_filename, "proxy:balancer://", &apache_was_here);
        }

        if (phpw_cgi.fix_pathinfo) {
            script_path_translated =
                fix_pathinfo(rq, script_path_translated, env_script_filename, env_path_translated,
                             env_path_info, env_script_name, apache_was_here);
        } else {
            /* pre-4.3 behaviour, kept by php-fpm for compatibility */
            SG(request_info).request_uri = env_path_info ? env_path_info : env_script_name;
            if (!phpw_cgi.discard_path && env_path_translated) {
                script_path_translated = env_path_translated;
            }
        }

        if (is_valid_path(script_path_translated)) {
            SG(request_info).path_translated = estrdup(script_path_translated);
        }

        SG(request_info).query_string = P("QUERY_STRING");
        SG(request_info).content_type = content_type ? content_type : "";
        SG(request_info).content_length = content_length ? atol(content_length) : 0;

        /* The CGI RFC lets servers pass the Authorization header on unvalidated. */
        php_handle_auth_data(P("HTTP_AUTHORIZATION"));
    }

    char *ini = P("PHP_VALUE");
    /* In a resident worker a change would outlive the request (nothing undoes it before the
     * worker ends): PHP_VALUE is for classic workers only. */
    if (phpw_resident) return;
    if (ini) phpw_ini_apply_request(ini, 0);
    ini = P("PHP_ADMIN_VALUE");
    if (ini) phpw_ini_apply_request(ini, 1);
}

/* ---- environment and $_SERVER ---- */

static void (*php_orig_import_env)(zval *array_ptr);

static void register_params(struct phpw_req *rq, zval *array_ptr, bool filtered)
{
    int filter_arg =
        Z_ARR_P(array_ptr) == Z_ARR(PG(http_globals)[TRACK_VARS_ENV]) ? PARSE_ENV : PARSE_SERVER;
    /* Newest first: php-fpm's param hash iterates that way, so $_SERVER has the same order. */
    for (size_t i = rq->params.n; i-- > 0;) {
        struct phpw_param *e = &rq->params.v[i];
        if (e->value == NULL) continue;
        char *val = e->value;
        size_t len = strlen(val); /* php-fpm's path logic may have shortened it in place */
        if (filtered && !sapi_module.input_filter(filter_arg, e->name, &val, len, &len)) continue;
        php_register_variable_safe(e->name, val, len, array_ptr);
    }
}

/* $_SERVER and $_ENV: the process environment, then every param (php-fpm's
 * cgi_php_import_environment_variables). */
static void import_env_hook(zval *array_ptr)
{
    zval *env = &PG(http_globals)[TRACK_VARS_ENV];
    zval *server = &PG(http_globals)[TRACK_VARS_SERVER];
    if (Z_TYPE_P(env) == IS_ARRAY && Z_ARR_P(array_ptr) != Z_ARR_P(env) &&
        zend_hash_num_elements(Z_ARRVAL_P(env)) > 0) {
        zend_array_destroy(Z_ARR_P(array_ptr));
        Z_ARR_P(array_ptr) = zend_array_dup(Z_ARR_P(env));
        return;
    }
    if (Z_TYPE_P(server) == IS_ARRAY && Z_ARR_P(array_ptr) != Z_ARR_P(server) &&
        zend_hash_num_elements(Z_ARRVAL_P(server)) > 0) {
        zend_array_destroy(Z_ARR_P(array_ptr));
        Z_ARR_P(array_ptr) = zend_array_dup(Z_ARR_P(server));
        return;
    }
    php_orig_import_env(array_ptr);
    struct phpw_req *rq = phpw_current();
    if (rq) register_params(rq, array_ptr, true);
}

/* getenv() with no argument and the like (php-fpm's cgi_php_load_environment_variables). */
static void load_env_hook(zval *array_ptr)
{
    php_orig_import_env(array_ptr);
    struct phpw_req *rq = phpw_current();
    if (rq) register_params(rq, array_ptr, false);
}

void phpw_install_env_hooks(void)
{
    if (php_orig_import_env != NULL) return;
    php_orig_import_env = php_import_environment_variables;
    php_import_environment_variables = import_env_hook;
    php_load_environment_variables = load_env_hook;
}

void phpw_sapi_register_variables(zval *track_vars_array)
{
    /* As in CGI, the environment is part of the server variables. */
    php_import_environment_variables(track_vars_array);
    /* FrankenPHP's worker scripts (Laravel Octane, Symfony Runtime) check it */
    if (phpw_resident) php_register_variable_safe("FRANKENPHP_WORKER", "1", 1, track_vars_array);

    struct phpw_req *rq = phpw_current();
    char *php_self;
    size_t php_self_len;
    if (phpw_cgi.fix_pathinfo) {
        /* PHP_SELF = SCRIPT_NAME + PATH_INFO */
        const char *script_name = SG(request_info).request_uri;
        size_t sn_len = script_name ? strlen(script_name) : 0;
        const char *path_info = rq ? P("PATH_INFO") : NULL;
        size_t pi_len = path_info ? strlen(path_info) : 0;
        php_self_len = sn_len + pi_len;
        php_self = emalloc(php_self_len + 1);
        if (sn_len) memcpy(php_self, script_name, sn_len);
        if (pi_len) memcpy(php_self + sn_len, path_info, pi_len);
        php_self[php_self_len] = '\0';
        if (sapi_module.input_filter(PARSE_SERVER, "PHP_SELF", &php_self, php_self_len,
                                     &php_self_len)) {
            php_register_variable_safe("PHP_SELF", php_self, php_self_len, track_vars_array);
        }
        efree(php_self);
    } else {
        php_self = SG(request_info).request_uri ? SG(request_info).request_uri : "";
        php_self_len = strlen(php_self);
        if (sapi_module.input_filter(PARSE_SERVER, "PHP_SELF", &php_self, php_self_len,
                                     &php_self_len)) {
            php_register_variable_safe("PHP_SELF", php_self, php_self_len, track_vars_array);
        }
    }
}

char *phpw_sapi_getenv(const char *name, size_t name_len)
{
    /* Params only: PHP's getenv() falls back to the real environment itself. */
    struct phpw_req *rq = phpw_current();
    return rq ? phpw_param_get(&rq->params, name, name_len) : NULL;
}

char *phpw_sapi_read_cookies(void)
{
    struct phpw_req *rq = phpw_current();
    return rq ? P("HTTP_COOKIE") : NULL;
}

zend_result phpw_sapi_get_request_time(double *request_time)
{
    struct phpw_req *rq = phpw_current();
    if (rq) {
        *request_time = rq->start_time;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *request_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    return SUCCESS;
}

/* ---- request body ---- */

size_t phpw_sapi_read_post(char *buf, size_t count)
{
    struct phpw_req *rq = phpw_current();
    if (rq == NULL) return 0;
    if (SG(request_info).content_length <= (zend_long)SG(read_post_bytes)) return 0;
    size_t remaining = (size_t)(SG(request_info).content_length - (zend_long)SG(read_post_bytes));
    if (remaining < count) count = remaining;

    size_t got = 0;
    while (got < count) {
        if (rq->body_fd == -1) {
            /* nginx's client_body_in_file_only: the body is in a file, not on STDIN */
            char *file = P("REQUEST_BODY_FILE");
            if (file && *file) {
                int fd = open(file, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    int e = errno;
                    php_error(E_WARNING, "REQUEST_BODY_FILE: open('%s') failed: %s (%d)", file,
                              strerror(e), e);
                    return 0;
                }
                rq->body_fd = fd;
            } else {
                rq->body_fd = -2;
            }
        }
        ssize_t n;
        if (rq->body_fd < 0) {
            size_t want = count - got;
            if (want > INT_MAX) want = INT_MAX;
            n = FCGX_GetStr(buf + got, (int)want, rq->fcgx.in);
        } else {
            do {
                n = read(rq->body_fd, buf + got, count - got);
            } while (n < 0 && errno == EINTR);
        }
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

/* ---- response output ---- */

#define FCGI_REC_STDOUT 6
#define FCGI_REC_END_REQUEST 3
#define DIRECT_MIN 8192  /* writes this big skip libfcgi's 8 KiB buffer */
#define RECORD_MAX 65528 /* largest record content that needs no padding (as php-fpm) */
#define RECORDS_PER_WRITEV 32

static void make_header(unsigned char *h, int type, int id, size_t len)
{
    h[0] = 1;
    h[1] = (unsigned char)type;
    h[2] = (unsigned char)((id >> 8) & 0xff);
    h[3] = (unsigned char)(id & 0xff);
    h[4] = (unsigned char)((len >> 8) & 0xff);
    h[5] = (unsigned char)(len & 0xff);
    h[6] = 0;
    h[7] = 0;
}

/* Big writes go out as 64 KiB records straight from PHP's buffer: no copy, one writev. */
static int write_stdout_direct(struct phpw_req *rq, const char *buf, size_t len)
{
    unsigned char hdr[RECORDS_PER_WRITEV][8];
    struct iovec iov[RECORDS_PER_WRITEV * 2];
    while (len > 0) {
        int n = 0;
        while (len > 0 && n < RECORDS_PER_WRITEV) {
            size_t c = len > RECORD_MAX ? RECORD_MAX : len;
            make_header(hdr[n], FCGI_REC_STDOUT, rq->fcgx.requestId, c);
            iov[2 * n].iov_base = hdr[n];
            iov[2 * n].iov_len = 8;
            iov[2 * n + 1].iov_base = (void *)buf;
            iov[2 * n + 1].iov_len = c;
            buf += c;
            len -= c;
            n++;
        }
        if (fdio_writev_all(rq->fcgx.ipcFd, iov, 2 * n) < 0) return -1;
    }
    return 0;
}

int phpw_out_write(struct phpw_req *rq, const char *buf, size_t len)
{
    FCGX_Stream *out = rq->fcgx.out;
    if (len == 0) return 0;
    if (len <= (size_t)(out->stop - out->wrNext) || len < DIRECT_MIN) {
        return FCGX_PutStr(buf, (int)len, out) < 0 ? -1 : 0;
    }
    /* Send what is buffered first so the bytes stay in order. */
    if (FCGX_FFlush(out) < 0) return -1;
    return write_stdout_direct(rq, buf, len);
}

size_t phpw_sapi_ub_write(const char *str, size_t len)
{
    struct phpw_req *rq = phpw_current();
    if (rq == NULL || rq->in_bootstrap) {
        /* No request (in the master, e.g. a startup error): stdout, as php-fpm before fork. A
         * resident bootstrap between requests writes there too, as the CLI's echo would. */
        size_t done = 0;
        while (done < len) {
            ssize_t w = write(STDOUT_FILENO, str + done, len - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            done += (size_t)w;
        }
        return len;
    }
    if (rq->ended) return len; /* after fastcgi_finish_request(): discarded */
    if (phpw_client_gone || phpw_out_write(rq, str, len) < 0) {
        php_handle_aborted_connection();
        return 0;
    }
    return len;
}

void phpw_sapi_flush(void *server_context)
{
    struct phpw_req *rq = server_context;
    if (rq == NULL || rq->ended || rq->in_bootstrap) return;
    if (phpw_client_gone || FCGX_FFlush(rq->fcgx.out) < 0) php_handle_aborted_connection();
}

void phpw_end_response(struct phpw_req *rq, uint32_t app_status)
{
    if (rq->ended) return;
    rq->ended = true;
    /* Consume what is left of STDIN, so the next record on the channel is the next request. */
    char buf[8192];
    while (FCGX_GetStr(buf, (int)sizeof(buf), rq->fcgx.in) > 0) {
    }
    FCGX_SetExitStatus((int)app_status, rq->fcgx.out);
    /* err first: then the STDOUT EOF and END_REQUEST leave in the same write as the body's end */
    FCGX_FClose(rq->fcgx.err);
    FCGX_FClose(rq->fcgx.out);
}

/* The CGI header block, byte for byte as php-fpm's sapi_cgi_send_headers(). */
#define STATUS_BUF 1024

static void put_header(const char *s, size_t len)
{
    phpw_sapi_ub_write(s, len);
    phpw_sapi_ub_write("\r\n", 2);
}

static bool is_status_header(const sapi_header_struct *h)
{
    return h->header_len > sizeof("Status:") - 1 &&
           strncasecmp(h->header, "Status:", sizeof("Status:") - 1) == 0;
}

int phpw_sapi_send_headers(sapi_headers_struct *sapi_headers)
{
    char buf[STATUS_BUF];
    int len = 0;
    bool ignore_status = false;
    int response_status = SG(sapi_headers).http_response_code;
    zend_llist_position pos;
    sapi_header_struct *h;

    if (SG(request_info).no_headers == 1) return SAPI_HEADER_SENT_SUCCESSFULLY;
    struct phpw_req *rq = phpw_current();
    if (rq == NULL || rq->in_bootstrap) return SAPI_HEADER_SENT_SUCCESSFULLY;

    if (phpw_cgi.nph || SG(sapi_headers).http_response_code != 200) {
        bool has_status = false;
        const char *line = SG(sapi_headers).http_status_line;
        const char *s;

        if (phpw_cgi.rfc2616_headers && line) {
            len = snprintf(buf, sizeof(buf), "%s", line);
            if ((s = strchr(line, ' '))) response_status = atoi(s + 1);
        } else if (line && (s = strchr(line, ' ')) != NULL && s - line >= 5 &&
                   strncasecmp(line, "HTTP/", 5) == 0) {
            /* "HTTP/1.1 404 Not Found" from header(): keep its reason phrase */
            len = snprintf(buf, sizeof(buf), "Status:%s", s);
            response_status = atoi(s + 1);
        } else {
            for (h = zend_llist_get_first_ex(&sapi_headers->headers, &pos); h;
                 h = zend_llist_get_next_ex(&sapi_headers->headers, &pos)) {
                if (is_status_header(h)) {
                    has_status = true;
                    break;
                }
            }
            if (!has_status) {
                const http_response_status_code_pair *err = http_status_map;
                while (err->code != 0 && err->code != SG(sapi_headers).http_response_code)
                    err++;
                if (err->str) {
                    len = snprintf(buf, sizeof(buf), "Status: %d %s",
                                   SG(sapi_headers).http_response_code, err->str);
                } else {
                    len = snprintf(buf, sizeof(buf), "Status: %d",
                                   SG(sapi_headers).http_response_code);
                }
            }
        }
        if (len < 0) len = 0;
        if (len >= (int)sizeof(buf)) len = (int)sizeof(buf) - 1;
        if (!has_status) {
            put_header(buf, (size_t)len);
            ignore_status = true;
        }
    }

    for (h = zend_llist_get_first_ex(&sapi_headers->headers, &pos); h;
         h = zend_llist_get_next_ex(&sapi_headers->headers, &pos)) {
        if (h->header_len == 0) continue; /* never an early CRLFCRLF */
        if (is_status_header(h)) {
            if (!ignore_status) {
                ignore_status = true;
                put_header(h->header, h->header_len);
            }
        } else if (response_status == 304 && h->header_len > sizeof("Content-Type:") - 1 &&
                   strncasecmp(h->header, "Content-Type:", sizeof("Content-Type:") - 1) == 0) {
            continue; /* a 304 has no body, so no type */
        } else {
            put_header(h->header, h->header_len);
        }
    }
    phpw_sapi_ub_write("\r\n", 2);
    return SAPI_HEADER_SENT_SUCCESSFULLY;
}

/* ---- logging ---- */

void phpw_sapi_log_message(const char *message, int syslog_type)
{
    (void)syslog_type; /* php-fpm logs every PHP message at NOTICE */
    phpw_log_prefixed(LOG_LVL_NOTICE, "PHP message: ", message);
}

/* ---- activate / deactivate: per-dir ini and .user.ini, end of response ---- */

/* Load the .user.ini files from DOCUMENT_ROOT down to the script's directory, cached per
 * directory for user_ini.cache_ttl seconds, as php-fpm does. */
static void activate_user_config(char *path, size_t path_len, const char *doc_root,
                                 size_t doc_root_len)
{
    time_t request_time = (time_t)sapi_get_request_time();
    struct phpw_user_config *entry =
        zend_hash_str_find_ptr(&phpw_cgi.user_config_cache, path, path_len);

    if (!entry) {
        entry = pemalloc(sizeof(*entry), 1);
        entry->expires = 0;
        entry->user_config = pemalloc(sizeof(HashTable), 1);
        zend_hash_init(entry->user_config, 0, NULL, config_zval_dtor, 1);
        zend_hash_str_update_ptr(&phpw_cgi.user_config_cache, path, path_len, entry);
    }

    if (request_time > entry->expires) {
        zend_hash_clean(entry->user_config);

        if (!IS_ABSOLUTE_PATH(path, path_len)) {
            char *real_path = tsrm_realpath(path, NULL);
            if (real_path == NULL) return;
            path = real_path;
            path_len = strlen(real_path);
        }

        const char *s1;
        char *s2;
        size_t s_len;
        if (path_len > doc_root_len) {
            s1 = doc_root;
            s2 = path;
            s_len = doc_root_len;
        } else {
            s1 = path;
            s2 = (char *)doc_root;
            s_len = path_len;
        }

        /* Inside DOCUMENT_ROOT: every directory from the root down; else only this one. */
        if (strncmp(s1, s2, s_len) == 0) {
            char *ptr = s2 + doc_root_len;
            while ((ptr = strchr(ptr, DEFAULT_SLASH)) != NULL) {
                *ptr = '\0';
                php_parse_user_ini_file(path, PG(user_ini_filename), entry->user_config);
                *ptr = '/';
                ptr++;
            }
        } else {
            php_parse_user_ini_file(path, PG(user_ini_filename), entry->user_config);
        }
        entry->expires = request_time + PG(user_ini_cache_ttl);
    }

    php_ini_activate_config(entry->user_config, PHP_INI_PERDIR, PHP_INI_STAGE_HTACCESS);
}

int phpw_sapi_activate(void)
{
    struct phpw_req *rq = phpw_current();
    /* Resident workers: per-directory ini would stack up request after request (only the
     * engine's shutdown undoes it), so php.ini's [PATH=]/[HOST=] and .user.ini are not read. */
    if (phpw_resident) return SUCCESS;
    if (rq == NULL || !SG(request_info).path_translated) return FAILURE;

    if (php_ini_has_per_host_config()) {
        /* [HOST=...] sections of php.ini */
        const char *server_name = P("SERVER_NAME");
        if (server_name) {
            size_t len = strlen(server_name);
            char *lower = estrndup(server_name, len);
            zend_str_tolower(lower, len);
            php_ini_activate_per_host_config(lower, len);
            efree(lower);
        }
    }

    if (php_ini_has_per_dir_config() || (PG(user_ini_filename) && *PG(user_ini_filename))) {
        const char *pt = SG(request_info).path_translated;
        size_t path_len = strlen(pt);
        char *path;
        /* the directory of the script, with a trailing slash */
        if (!IS_SLASH(pt[path_len])) {
            path = emalloc(path_len + 2);
            memcpy(path, pt, path_len + 1);
            path_len = zend_dirname(path, path_len);
            path[path_len++] = DEFAULT_SLASH;
        } else {
            path = estrndup(pt, path_len);
            path_len = zend_dirname(path, path_len);
        }
        path[path_len] = '\0';

        /* [PATH=...] sections of php.ini */
        php_ini_activate_per_dir_config(path, path_len);

        if (PG(user_ini_filename) && *PG(user_ini_filename)) {
            const char *doc_root = P("DOCUMENT_ROOT");
            if (doc_root) {
                size_t doc_root_len = strlen(doc_root);
                if (doc_root_len > 0 && IS_SLASH(doc_root[doc_root_len - 1])) --doc_root_len;
                activate_user_config(path, path_len, doc_root, doc_root_len);
            }
        }
        efree(path);
    }
    return SUCCESS;
}

int phpw_sapi_deactivate(void)
{
    /* Called during php_request_shutdown() once STDIN is consumed up to CONTENT_LENGTH: the
     * response is complete, so the master learns it now, before the memory cleanup. */
    struct phpw_req *rq = phpw_current();
    if (SG(sapi_started) && rq != NULL && !rq->ended && !rq->in_bootstrap)
        phpw_end_response(rq, rq->leaving ? PHPW_APP_STATUS_LEAVING : 0);
    return SUCCESS;
}
