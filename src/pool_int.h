/* Inside a pool: the worker slots and the pool state that the pool's modules share. pool.c runs
 * the slots (spawn, reap, respawn, timeouts, reload, stop), pm.c decides how many run (pm =
 * static, dynamic, ondemand), dispatch.c the queue and the sending of a request to a worker,
 * relay.c the worker's output on its way to the client. Only these, worker_proc.c, slowlog.c and
 * pool_reconfig.c include this (and status.c, which reads the slots for the status page). */
#ifndef PHPMGR_POOL_INT_H
#define PHPMGR_POOL_INT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/socket.h>

#include "../sapi/phpw.h"
#include "fcgi.h"
#include "pool.h"
#include "request.h"
#include "ring.h"

enum worker_state {
    W_EMPTY,    /* no process in this slot */
    W_IDLE,     /* waiting for a request */
    W_BUSY,     /* running a request */
    W_RETIRING, /* told to exit (channel shut) or killed, not yet reaped */
};

struct worker {
    struct op op_recv;
    struct op op_send;
    struct pool *pool;
    struct worker *next_idle;
    pid_t pid;
    int fd;
    enum worker_state state;
    unsigned inflight;
    uint8_t recv_posted;
    uint8_t recv_held;      /* not reading: the client cannot take more now (conn_backlogged) */
    uint8_t channel_closed; /* EOF or error seen on the socketpair */
    uint8_t reaped;
    uint8_t finished_early; /* response ended by fastcgi_finish_request(), script still runs */
    uint8_t timed_out;      /* request_terminate_timeout or request.read_timeout fired */
    uint8_t sending;        /* op_send is in flight (a sendmsg, or a read of a spooled body) */
    uint8_t reading_body;   /* ... and it is the read */
    uint8_t in_idle;        /* on the pool's idle list */
    uint8_t retire_asked;   /* reload: exit after the current request */
    uint8_t planned_exit;   /* we asked it to leave: respawn at once, it is no crash */
    uint8_t idle_kill;      /* retired by pm dynamic/ondemand for being idle: not respawned */
    uint8_t replacing;      /* the next start replaces a child that exited (a notice line) */
    uint8_t returned;       /* its resident bootstrap returned by itself (the leaving notice) */
    /* The start of the next response, while a chunk ended too soon to tell whether it is one
     * (relay.c: the leaving notice and UNSERVED answers of sapi/phpw.h are not). */
    uint8_t lead[16];
    uint8_t lead_len;
    uint8_t in_response;    /* the records since the last END_REQUEST are a response's */
    unsigned seq;           /* requests sent on this channel (names a request in SIGURG) */
    uint64_t slow_logged;   /* pid << 32 | seq of the last request reported slow (slowlog.c) */
    struct request *req;    /* the request it runs (held by the pool) */
    struct buf *rbuf;
    struct fcgi_relay relay;
    uint64_t last_output_ms; /* when it last sent output for req (or was given req) */
    /* Dispatch: iov[0] is BEGIN_REQUEST + PARAMS records, iov[1] the framed STDIN (or nothing
     * when the body is in a temp file: it follows in chunks read into body_chunk). send_req is held
     * (REQ_HELD_BY_SEND) until all of it is sent, even when the worker answers before reading it. */
    struct request *send_req;
    struct request *requeue_req; /* answered UNSERVED while send_req: queued again once sent */
    uint64_t body_sent;
    uint8_t *body_chunk; /* REQUEST_BODY_CHUNK bytes, allocated on the first spooled body */
    uint8_t *head;
    size_t head_cap;
    struct iovec iov[2];
    struct msghdr msg;
    unsigned long served;
    uint64_t spawned_ms;
    uint64_t idle_since_ms; /* when it last became idle (pm.process_idle_timeout) */
    uint64_t respawn_at_ms; /* 0: no respawn planned */
    unsigned quick_deaths;  /* exits soon after start in a row: the respawn backoff */
    int seed_fd; /* channel to the slot's pre-forked next worker (worker_proc.c), or -1 */
};

struct pool {
    const struct pool_config *cfg;
    struct phpw_ini *ini;
    struct worker *workers;
    int n_workers;
    int run_as_root;
    int log_limit;
    struct worker *idle;
    struct request *queue_head, *queue_tail;
    struct body_spool spool;
    unsigned queue_len;
    int stopping;      /* 1 graceful, 2 fast */
    int respawn_due;   /* a slot waits for pool_spawn_due() */
    uint64_t queue_full_logged_ms;
    unsigned long requests;      /* handed to workers since start */
    unsigned long slow_requests; /* past request_slowlog_timeout */
    /* status.c: php-fpm's status counters, and phpmgr's own */
    unsigned long accepted_conn;    /* requests submitted (ping and status ones included) */
    unsigned queue_len_max;         /* the most requests queued at once (max listen queue) */
    unsigned active, max_active;    /* workers running a request, the most at once */
    unsigned long requests_refused; /* answered 503 without running: queue full, stopping */
    unsigned long reloads;          /* pool_reload() calls */
    struct phpw_sb_pool *sb;        /* the status scoreboard (sapi/phpw_status.h) */
    size_t sb_len;
    /* pm.c */
    uint64_t maintained_ms;     /* last idle-server maintenance (once a second) */
    int idle_spawn_rate;        /* dynamic: workers to start at the next shortage */
    int warned_max_children;    /* "server reached pm.max_children" said, until a spawn */
    unsigned max_children_reached; /* times it was said (php-fpm's status counter) */
};

/* pool.c */
void worker_retire(struct worker *w);
void worker_broken(struct worker *w, const char *why);
void worker_maybe_finish(struct worker *w);

/* dispatch.c */
/* The worker is free: give it the next queued request, or park it. */
void dispatch_next(struct worker *w);
void dispatch_send_completed(struct worker *w, int res);
/* Take r out of p's queue; 1 when it was there. */
int dispatch_unqueue(struct pool *p, struct request *r);
/* w answered its request r UNSERVED (sapi/phpw.h) before writing anything of it: r goes to an
 * idle worker or to the head of the queue (once its sending to w is over), or is let go when its
 * client has left. w no longer has it. */
void dispatch_requeue(struct worker *w, struct request *r);
void idle_remove(struct pool *p, struct worker *w);

/* relay.c */
void relay_post_recv(struct worker *w);
void relay_recv_completed(struct worker *w, int res);
/* The worker's request is over (END_REQUEST, crash, timeout): the pool lets go of it. */
void relay_request_over(struct worker *w);
/* w's request fails (crash, timeout): the client is told (status when nothing was sent yet). */
void relay_fail_running(struct worker *w, int status);
/* Queue news for r's connection; delivered by relay_deliver(). */
void relay_news(struct request *r, enum request_news news, int status);

/* pm.c */
/* Workers to start with the pool: static pm.max_children, dynamic pm.start_servers, ondemand 0. */
int pm_initial_workers(const struct pool *p);
/* Idle-server maintenance (acts once a second): plans spawns and retires idle workers. */
void pm_maintain(struct pool *p, uint64_t now);
/* A request was queued for want of an idle worker: ondemand plans a spawn. */
void pm_request_queued(struct pool *p);

/* worker_proc.c */
/* Start the worker of p's slot (0-based): wake the slot's pre-forked successor on *seed_fd when
 * there is one, else fork. Returns its pid with *channel_fd set to the master's end of its
 * socketpair (and its stdout/stderr watched when catch_workers_output), or -1 (logged). *seed_fd
 * is then the new worker's own successor's channel (pm.max_requests), or -1. */
pid_t worker_proc_spawn(struct pool *p, int slot, int *seed_fd, int *channel_fd);
/* At the end: close the slots' seed channels and reap the seeds (bounded wait). */
void worker_proc_seeds_stop(struct pool *p);

#endif
