/* The slow request log (slowlog, request_slowlog_timeout, request_slowlog_trace_depth), written
 * by the worker itself: no ptrace, so it works where php-fpm's cannot (a container without
 * CAP_SYS_PTRACE, Yama, a worker made non-dumpable by its setuid).
 *
 * The master rings this worker's bell (struct phpw_slowlog_bell in phpw.h). A thread of the
 * worker, the bell thread, waits on it with FUTEX_WAIT and every signal blocked. No signal is
 * ever sent, so nothing interrupts the PHP thread: a sleep(), usleep() or socket read in progress
 * goes on exactly as without the slowlog. (A signal handler on the PHP thread would cut them short:
 * nanosleep() is never restarted after a handler, SA_RESTART or not, and PHP's sleep() then
 * returns early with the seconds left. A signal blocked in the PHP thread and taken by a thread
 * with sigwaitinfo() would stay blocked in every command exec()/popen() start.)
 *
 * Who walks the stack of PHP frames:
 *  - The PHP thread, when it runs PHP code: the bell thread sets EG(vm_interrupt), and the engine
 *    calls zend_interrupt_function at its next jump back, call or return; ours (chained: it calls
 *    the one set before it) writes the entry there, from the thread that owns the stack.
 *  - The bell thread, when the PHP thread has not taken the ask within BELL_GRACE_MS: it is then
 *    in a syscall or in C code (sleep(), a query, a long preg_match), and its frames do not change
 *    until it is back in the VM, where its interrupt hook waits for the walk to end. The walk reads
 *    through process_vm_readv() on this process (its own threads need no ptrace right), or through
 *    a pipe (write(2) from an unreadable address fails with EFAULT) where that call is refused,
 *    so a frame freed under it is at worst a wrong line or "+++ dump failed", never a crash.
 * A fork (pcntl_fork(), proc_open()) waits for a walk in progress; the child has no bell thread.
 *
 * The entry is php-fpm's (fpm_php_trace.c): a blank line, "[date]  [pool P] pid N",
 * "script_filename = PATH", then a line per frame, innermost first: "[0x%016lx] name() file:line",
 * the frame's address, the function's bare name (methods too), "???" for a frame without one,
 * "[INCLUDE_OR_EVAL]" for included code, and the file and line of the closest caller in user code
 * ("unknown:0" when none). The script's top-level code ends the walk, as does the depth limit,
 * silently; a read that fails ends it with "+++ dump failed". The file is opened by path for each
 * entry, so a rotated log is followed; when the worker may not open it (php-fpm's file is root's,
 * mode 0600) the entry goes to the fd the master opened before forking. One write(2) per entry on
 * O_APPEND: entries of different workers never interleave. */
#include "phpw_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../src/log.h"
#include "zend_atomic.h"

/* How long the PHP thread has to take an ask before the bell thread walks its stack. The VM
 * checks for interrupts at every jump back and call, so a thread running PHP takes it within
 * microseconds; one that has not is blocked outside the VM. */
#define BELL_GRACE_MS 20
#define BELL_STACK_SIZE (256 * 1024)
#define NAME_MAX_LEN 1023 /* php-fpm reads names and paths into 1024-byte buffers */

enum ask_state {
    ST_IDLE,  /* nothing asked */
    ST_ASKED, /* the bell rang for the running request: whoever takes it first writes the entry */
    ST_MAIN,  /* the PHP thread is writing it */
    ST_BELL,  /* the bell thread is writing it: the PHP thread must not run PHP code */
};

static struct {
    bool on; /* this process has a bell thread (not in a fork() child) */
    struct phpw_slowlog_bell *bell;
    int fd; /* the master's, or -1 */
    const char *path;
    const char *pool;
    int depth;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC; broadcast on every state change */
    int state;         /* enum ask_state: changed under mu, read without it by the hook */
    uint32_t running;  /* under mu: the request being served (its sequence number), 0 if none */
    uint32_t dumped;   /* under mu: the last request an entry was taken for */
    int pipe[2];       /* fault-safe reads when process_vm_readv() is refused */
    bool no_vm_readv;
} sl = {.fd = -1, .pipe = {-1, -1}};

static void (*prev_interrupt)(zend_execute_data *execute_data);

static void set_state(enum ask_state s)
{
    __atomic_store_n(&sl.state, (int)s, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&sl.cv);
}

/* ---- reading the PHP thread's memory ---- */

/* Copy n bytes at addr into dst: plainly on the PHP thread (direct), else without faulting on
 * memory that is gone. 0, or -1 when unreadable. */
static int peek(void *dst, const void *addr, size_t n, bool direct)
{
    if (addr == NULL) return -1;
    if (direct) {
        memcpy(dst, addr, n);
        return 0;
    }
    if (!sl.no_vm_readv) {
        struct iovec local = {.iov_base = dst, .iov_len = n};
        struct iovec remote = {.iov_base = (void *)addr, .iov_len = n};
        ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (got == (ssize_t)n) return 0;
        if (got >= 0 || errno == EFAULT) return -1;
        sl.no_vm_readv = true; /* ENOSYS, EPERM (a seccomp filter): the pipe from now on */
    }
    if (sl.pipe[0] < 0) return -1;
    for (size_t done = 0; done < n;) {
        size_t chunk = n - done < 4096 ? n - done : 4096;
        ssize_t w = write(sl.pipe[1], (const char *)addr + done, chunk);
        ssize_t r = w > 0 ? read(sl.pipe[0], (char *)dst + done, (size_t)w) : 0;
        if (w != (ssize_t)chunk || r != w) return -1;
        done += chunk;
    }
    return 0;
}

#define PEEK(var, addr) peek(&(var), (addr), sizeof(var), direct)

static bool valid_ptr(const void *p)
{
    return p != NULL && ((uintptr_t)p & (sizeof(long) - 1)) == 0;
}

/* A zend_string's text, at most NAME_MAX_LEN bytes, into out. 0 or -1. */
static int peek_zstr(char *out, const zend_string *s, bool direct)
{
    size_t len;
    if (peek(&len, (const char *)s + offsetof(zend_string, len), sizeof(len), direct) < 0)
        return -1;
    if (len > NAME_MAX_LEN) len = NAME_MAX_LEN;
    if (peek(out, (const char *)s + offsetof(zend_string, val), len, direct) < 0) return -1;
    out[len] = '\0';
    return 0;
}

/* A C string, at most NAME_MAX_LEN bytes, into out. Read a page at most at a time, so that no
 * read crosses from the string's page into an unmapped one. 0 or -1. */
static int peek_strz(char *out, const char *s, bool direct)
{
    if (s == NULL) return -1;
    if (direct) {
        size_t n = strnlen(s, NAME_MAX_LEN);
        memcpy(out, s, n);
        out[n] = '\0';
        return 0;
    }
    size_t have = 0;
    while (have < NAME_MAX_LEN) {
        size_t to_page = 4096 - ((uintptr_t)(s + have) & 4095);
        size_t n = NAME_MAX_LEN - have < to_page ? NAME_MAX_LEN - have : to_page;
        if (peek(out + have, s + have, n, false) < 0) return -1;
        if (memchr(out + have, '\0', n) != NULL) return 0;
        have += n;
    }
    out[have] = '\0';
    return 0;
}

/* ---- the entry ---- */

struct out {
    char *p;
    size_t len, cap;
    bool failed; /* out of memory: the entry is dropped */
};

static void out_add(struct out *o, const char *fmt, ...) ZEND_ATTRIBUTE_FORMAT(printf, 2, 3);

static void out_add(struct out *o, const char *fmt, ...)
{
    while (!o->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
        } else if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        } else {
            size_t cap = o->cap * 2;
            while (cap - o->len <= (size_t)n)
                cap *= 2;
            char *p = realloc(o->p, cap);
            if (p == NULL) {
                o->failed = true;
            } else {
                o->p = p;
                o->cap = cap;
            }
        }
    }
}

/* The frames, as php-fpm's fpm_php_trace_dump() lists them. 0, or -1 when a read failed. */
static int walk(struct out *o, bool direct)
{
    zend_execute_data *ex;
    if (PEEK(ex, &EG(current_execute_data))) return -1;
    int left = sl.depth;
    char name[NAME_MAX_LEN + 1], file[NAME_MAX_LEN + 1];
    while (ex != NULL) {
        zend_function *func;
        if (PEEK(func, &ex->func)) return -1;
        if (valid_ptr(func)) {
            zend_string *fname;
            if (PEEK(fname, &func->common.function_name)) return -1;
            if (fname == NULL) {
                uint32_t info;
                if (PEEK(info, &Z_TYPE_INFO(ex->This))) return -1;
                if (ZEND_CALL_KIND_EX(info) == ZEND_CALL_TOP_CODE) return 0;
                strcpy(name, ZEND_CALL_KIND_EX(info) == ZEND_CALL_NESTED_CODE ? "[INCLUDE_OR_EVAL]"
                                                                              : "???");
            } else if (peek_zstr(name, fname, direct) < 0) {
                return -1;
            }
        } else {
            strcpy(name, "???");
        }
        out_add(o, "[0x%016lx] %s()", (unsigned long)(uintptr_t)ex, name);

        /* where it was called from: the closest frame of user code below it */
        zend_execute_data *prev;
        if (PEEK(prev, &ex->prev_execute_data)) return -1;
        ex = prev;
        file[0] = '\0';
        uint32_t lineno = 0;
        while (prev != NULL) {
            if (PEEK(func, &prev->func)) return -1;
            if (!valid_ptr(func)) break;
            zend_uchar type;
            if (PEEK(type, &func->type)) return -1;
            if (ZEND_USER_CODE(type)) {
                zend_string *filename;
                const zend_op *opline;
                if (PEEK(filename, &func->op_array.filename) ||
                    peek_zstr(file, filename, direct) < 0 || PEEK(opline, &prev->opline))
                    return -1;
                if (valid_ptr(opline) && PEEK(lineno, &opline->lineno)) return -1;
                break;
            }
            if (PEEK(prev, &prev->prev_execute_data)) return -1;
        }
        out_add(o, " %s:%u\n", file[0] ? file : "unknown", lineno);
        if (--left == 0) break;
    }
    return 0;
}

/* Not phpw_log(): it may write to the request's FastCGI stderr, which belongs to the PHP thread.
 * One line on the worker's stderr (the error log with catch_workers_output). */
static void bell_warn(const char *what, int err)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "WARNING: [pool %s] child %d: slowlog: %s: %s\n", sl.pool,
                     (int)getpid(), what, strerror(err));
    if (n > (int)sizeof(line) - 1) n = (int)sizeof(line) - 1;
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) return;
}

static void write_entry(const char *p, size_t n)
{
    int own = open(sl.path, O_WRONLY | O_APPEND | O_CLOEXEC);
    int fd = own >= 0 ? own : sl.fd;
    if (fd < 0) {
        bell_warn(sl.path, errno);
        return;
    }
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            bell_warn("write", w < 0 ? errno : EIO);
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (own >= 0) close(own);
}

static void dump(bool direct)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct out o = {.cap = 4096};
    o.p = malloc(o.cap);
    if (o.p == NULL) return;
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    /* php-fpm's time stamp is "[...] " and its line adds " [pool": two spaces. The month by name
     * in English whatever setlocale() a script called. */
    out_add(&o, "\n[%02d-%s-%04d %02d:%02d:%02d]  [pool %s] pid %d\n", tm.tm_mday,
            months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sl.pool,
            (int)getpid());
    char *script;
    char path[NAME_MAX_LEN + 1];
    int rc = -1;
    if (PEEK(script, &SG(request_info).path_translated) == 0 &&
        peek_strz(path, script, direct) == 0) {
        out_add(&o, "script_filename = %s\n", path);
        rc = walk(&o, direct);
    }
    if (rc < 0) out_add(&o, "+++ dump failed\n");
    if (!o.failed) write_entry(o.p, o.len);
    free(o.p);
}

/* ---- who takes the ask ---- */

/* On the PHP thread: wait out a walk of the bell thread, or write the entry asked for. */
static void take(void)
{
    pthread_mutex_lock(&sl.mu);
    while (sl.state == ST_BELL)
        pthread_cond_wait(&sl.cv, &sl.mu);
    if (sl.state == ST_ASKED) {
        set_state(ST_MAIN);
        pthread_mutex_unlock(&sl.mu);
        dump(true);
        pthread_mutex_lock(&sl.mu);
        set_state(ST_IDLE);
    }
    pthread_mutex_unlock(&sl.mu);
}

static void on_interrupt(zend_execute_data *execute_data)
{
    if (sl.on && __atomic_load_n(&sl.state, __ATOMIC_ACQUIRE) != ST_IDLE) take();
    if (prev_interrupt != NULL) prev_interrupt(execute_data);
}

/* On the bell thread: the master asks for an entry on request seq. */
static void answer(uint32_t seq)
{
    pthread_mutex_lock(&sl.mu);
    if (seq != 0 && seq == sl.running && seq != sl.dumped) {
        sl.dumped = seq;
        set_state(ST_ASKED);
        zend_atomic_bool_store_ex(&EG(vm_interrupt), true);
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += BELL_GRACE_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (sl.state == ST_ASKED)
            if (pthread_cond_timedwait(&sl.cv, &sl.mu, &deadline) == ETIMEDOUT) break;
        if (sl.state == ST_ASKED) {
            set_state(ST_BELL);
            pthread_mutex_unlock(&sl.mu);
            dump(false);
            pthread_mutex_lock(&sl.mu);
            set_state(ST_IDLE);
        }
    }
    pthread_mutex_unlock(&sl.mu);
}

static void *bell_main(void *arg)
{
    (void)arg;
    uint32_t *ring = &sl.bell->ring;
    uint32_t seen = __atomic_load_n(ring, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t now = __atomic_load_n(ring, __ATOMIC_ACQUIRE);
        if (now == seen) {
            /* EINTR cannot happen (every signal is blocked here), EAGAIN means it rang */
            syscall(SYS_futex, ring, FUTEX_WAIT, seen, NULL, NULL, 0);
            continue;
        }
        seen = now;
        answer(__atomic_load_n(&sl.bell->seq, __ATOMIC_ACQUIRE));
    }
    return NULL;
}

/* A fork must not copy a stack being walked; the child has no bell thread. */
static void fork_prepare(void)
{
    if (!sl.on) return;
    pthread_mutex_lock(&sl.mu);
    while (sl.state == ST_BELL)
        pthread_cond_wait(&sl.cv, &sl.mu);
}

static void fork_parent(void)
{
    if (sl.on) pthread_mutex_unlock(&sl.mu);
}

static void fork_child(void)
{
    sl.on = false;
}

/* ---- the worker's interface (phpw_int.h) ---- */

int phpw_slowlog_start(const struct phpw_worker_opts *opts)
{
    static bool atfork_set;
    if (opts->slowlog_bell == NULL || sl.on) return 0;
    sl.bell = opts->slowlog_bell;
    sl.fd = opts->slowlog_fd;
    sl.path = opts->slowlog;
    sl.pool = opts->pool;
    sl.depth = opts->slowlog_depth > 0 ? opts->slowlog_depth : 20;
    sl.state = ST_IDLE;
    sl.running = sl.dumped = 0;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&sl.mu, NULL);
    pthread_cond_init(&sl.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (sl.pipe[0] < 0 && pipe2(sl.pipe, O_CLOEXEC | O_NONBLOCK) < 0) sl.pipe[0] = sl.pipe[1] = -1;

    /* The thread starts with every signal blocked, so none meant for the PHP thread (SIGURG,
     * SIGPROF of max_execution_time, SIGTERM) is ever delivered to it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, BELL_STACK_SIZE);
    pthread_t t;
    int rc = pthread_create(&t, &a, bell_main, NULL);
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        phpw_log(LOG_LVL_WARNING, "[pool %s] child %d: no slowlog: cannot start its thread: %s",
                 opts->pool, (int)getpid(), strerror(rc));
        return -1;
    }
    if (!atfork_set) {
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        atfork_set = true;
    }
    prev_interrupt = zend_interrupt_function;
    zend_interrupt_function = on_interrupt;
    sl.on = true;
    return 0;
}

void phpw_slowlog_request_begin(long seq)
{
    if (!sl.on) return;
    pthread_mutex_lock(&sl.mu);
    sl.running = (uint32_t)seq;
    pthread_mutex_unlock(&sl.mu);
}

void phpw_slowlog_request_end(void)
{
    if (!sl.on) return;
    pthread_mutex_lock(&sl.mu);
    sl.running = 0;
    pthread_mutex_unlock(&sl.mu);
    /* rung just before the end: the entry is still written (the master logged its warning) */
    take();
}
