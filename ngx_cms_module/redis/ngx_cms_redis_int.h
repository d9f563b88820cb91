
/*
 * ngx_cms Redis client: declarations shared by the ngx_cms_redis_*.c
 * files.  Not for plugins: they use ngx_cms_redis.h.
 */


#ifndef _NGX_CMS_REDIS_INT_H_INCLUDED_
#define _NGX_CMS_REDIS_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_cms_redis.h"
#include "ngx_cms_json_pool.h"


#define NGX_CMS_REDIS_ERRLEN           256

#define NGX_CMS_REDIS_BACKOFF_MIN      100      /* ms */
#define NGX_CMS_REDIS_BACKOFF_MAX      3000     /* ms */

#define NGX_CMS_REDIS_STREAM_MAXLEN    100000
#define NGX_CMS_REDIS_STREAM_BATCH     128      /* records per EVALSHA */
#define NGX_CMS_REDIS_STREAM_MAX_RECORD  (1024 * 1024)
#define NGX_CMS_REDIS_STREAM_MEMORY    10000    /* records without spool */
#define NGX_CMS_REDIS_STREAM_FALLBACK  1024     /* mode=fallback: then spool */
#define NGX_CMS_REDIS_STREAM_RETRY     1000     /* ms, after a Redis error */
#define NGX_CMS_REDIS_STREAM_LINGER    10       /* ms a few records wait */
#define NGX_CMS_REDIS_STREAM_ROOM      2048     /* a record's usual room */
#define NGX_CMS_REDIS_STREAM_ROOMS     256      /* rooms kept for reuse */
#define NGX_CMS_REDIS_SPOOL_SCAN       5000     /* ms, look for orphans */
#define NGX_CMS_REDIS_SEQ_TTL          604800   /* s, the dedup key */


typedef enum {
    NGX_CMS_REDIS_DOWN = 0,         /* no context */
    NGX_CMS_REDIS_CONNECTING,       /* TCP connect and handshake */
    NGX_CMS_REDIS_READY,
    NGX_CMS_REDIS_CLOSING           /* hiredis is freeing the context */
} ngx_cms_redis_state_e;


/* where to connect: an IPv4 literal and port, or a unix socket path */

typedef struct {
    char                        host[128];   /* NUL-terminated */
    int                         port;        /* 0: unix socket */
    ngx_str_t                   text;        /* into text_data */
    u_char                      text_data[160];
} ngx_cms_redis_addr_t;


struct ngx_cms_redis_script_s {
    ngx_str_t                   source;
    u_char                      sha1[41];    /* hex, NUL-terminated */
};


typedef struct {
    ngx_uint_t                  enabled;     /* cms_redis or _sentinel */
    ngx_cms_redis_addr_t       *addr;        /* NULL with Sentinel */
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_int_t                   db;          /* -1: no SELECT */
    ngx_str_t                   prefix;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  command_timeout;
    ngx_msec_t                  ping_interval;

    ngx_array_t                *sentinels;   /* of ngx_cms_redis_addr_t */
    ngx_str_t                   master_name;
    ngx_str_t                   sentinel_user;
    ngx_str_t                   sentinel_password;

    ngx_array_t                *scripts;     /* of ngx_cms_redis_script_t *
                                              */
    ngx_str_t                   spool;       /* directory; empty: off */
    off_t                       spool_max_size;  /* 0: no limit */
    ngx_uint_t                  spool_fallback;  /* mode=fallback */
    ngx_uint_t                  spool_set;

    ngx_uint_t                  stream_replicas;  /* WAIT; 0: off */
    ngx_msec_t                  stream_replicas_timeout;
    u_char                     *replicas_file;    /* for errors */
    ngx_uint_t                  replicas_line;

    ngx_cms_redis_script_t     *stream_script;
    ngx_int_t                   request_id_index;
    ngx_uint_t                  stream_used;
    u_char                     *stream_file;  /* the first one, for errors */
    ngx_uint_t                  stream_line;


    u_char                     *file;        /* where cms_redis was */
    ngx_uint_t                  line;
} ngx_cms_redis_main_conf_t;


typedef struct {
    ngx_str_t                   stream_key;  /* cms_redis_stream */
    ngx_uint_t                  stream_maxlen;
} ngx_cms_redis_loc_conf_t;


typedef struct ngx_cms_redis_conn_s  ngx_cms_redis_conn_t;
typedef struct ngx_cms_redis_op_s    ngx_cms_redis_op_t;

/* a handshake step checks its reply; NGX_ERROR after setting the reason */
typedef ngx_int_t (*ngx_cms_redis_check_pt)(ngx_cms_redis_conn_t *conn,
    redisReply *reply);


struct ngx_cms_redis_op_s {
    ngx_queue_t                 queue;       /* conn->pending or failed */
    ngx_cms_redis_conn_t       *conn;
    ngx_cms_redis_handler_pt    handler;
    void                       *data;
    ngx_pool_cleanup_t         *cln;         /* when bound to a pool */
    ngx_msec_t                  deadline;
    ngx_str_t                   error;       /* why, when failed early */

    ngx_cms_redis_script_t     *script;      /* EVALSHA: keep the command */
    char                       *cmd;         /* for the EVAL fallback */
    size_t                      len;

    const char                 *what;        /* handshake step */
    ngx_cms_redis_check_pt      check;

    unsigned                    bound:1;
    unsigned                    waiting:1;   /* a requester waits for it */
    unsigned                    orphaned:1;
    unsigned                    handshake:1;
    unsigned                    retried:1;
};


struct ngx_cms_redis_conn_s {
    const char                 *role;        /* for logs: "redis", ... */
    redisAsyncContext          *ac;
    ngx_connection_t           *connection;  /* the adapter's */
    ngx_cms_redis_state_e       state;
    ngx_cms_redis_addr_t        addr;        /* target of this attempt */

    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_int_t                   db;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  command_timeout;
    ngx_msec_t                  ping_interval;

    ngx_queue_t                 pending;     /* of ops, in send order */
    ngx_uint_t                  waiting;     /* of them, with a requester */
    ngx_uint_t                  handshake;   /* steps still unanswered */
    ngx_msec_t                  pong_deadline; /* pub/sub keep-alive */

    ngx_event_t                 connect_ev;
    ngx_event_t                 timeout_ev;
    ngx_event_t                 reconnect_ev;
    ngx_event_t                 ping_ev;
    ngx_msec_t                  backoff;

    ngx_msec_t                  since;       /* epoch ms of last change */
    u_char                      reason[NGX_CMS_REDIS_ERRLEN];
    size_t                      reason_len;  /* why this attempt ended */
    u_char                      error[NGX_CMS_REDIS_ERRLEN];
    size_t                      error_len;   /* last error */
    ngx_msec_t                  error_time;
    ngx_uint_t                  error_logged;

    ngx_uint_t                  sent;
    ngx_uint_t                  failed;
    ngx_uint_t                  connects;
    ngx_uint_t                  disconnects;

    unsigned                    quiet:1;     /* closed on purpose */
    unsigned                    was_ready:1;
    unsigned                    direct:1;    /* skip the Sentinel query */
    unsigned                    stopped:1;   /* worker exiting */
    unsigned                    ping_subscribe:1;

    /* the owner's part */
    void                      (*send_handshake)(ngx_cms_redis_conn_t *conn);
    void                      (*on_ready)(ngx_cms_redis_conn_t *conn);
    void                      (*on_lost)(ngx_cms_redis_conn_t *conn);
    void                      (*on_reconnect)(ngx_cms_redis_conn_t *conn);
    void                      (*on_message)(ngx_cms_redis_conn_t *conn,
                                  ngx_str_t *channel, ngx_str_t *message);
    ngx_str_t                   keepalive;   /* channel, pub/sub only */
};


/* a spool file: ours (appended to) or an orphan (replayed, removed) */

typedef struct {
    ngx_queue_t                 queue;       /* of orphans */
    ngx_fd_t                    fd;
    u_char                     *path;        /* NUL-terminated */
    u_char                      source[200];
    size_t                      source_len;
    off_t                       header;      /* bytes of the header line */
    off_t                       cursor;      /* first unconfirmed byte */
    off_t                       size;
    off_t                       punched;     /* a hole up to here */
    off_t                       freed;       /* by holes, in all */
    unsigned                    own:1;
    unsigned                    torn:1;      /* skip to the next line */
    unsigned                    no_punch:1;
} ngx_cms_redis_spool_t;


/* a subscription of this worker */

typedef struct {
    ngx_queue_t                 queue;
    ngx_str_t                   name;        /* without the prefix */
    ngx_cms_redis_message_pt    handler;
    void                       *data;
} ngx_cms_redis_sub_t;


typedef struct {
    ngx_queue_t                 queue;
    ngx_cms_redis_watch_pt      handler;
    void                       *data;
} ngx_cms_redis_watcher_t;


/* this worker's client */

typedef struct {
    ngx_cms_redis_main_conf_t  *conf;
    ngx_log_t                  *log;
    ngx_cms_redis_conn_t        cmd;
    ngx_cms_redis_conn_t        pubsub;
    ngx_cms_redis_conn_t        stream;      /* cms_redis_stream_replicas */
    ngx_cms_redis_conn_t       *data[3];     /* those in use, to the master */
    ngx_uint_t                  ndata;
    void                      (*stream_ready)(void);
    ngx_queue_t                 subs;
    ngx_queue_t                 watchers;
    ngx_uint_t                  orphaned;
    ngx_str_t                   source;      /* host:pid:start-ms */
    ngx_uint_t                  running;
    ngx_uint_t                  exiting;
    ngx_uint_t                  lists;       /* subs, watchers ready */
} ngx_cms_redis_worker_t;


extern ngx_module_t             ngx_cms_redis_module;
extern ngx_cms_redis_worker_t   ngx_cms_redis_worker;
extern ngx_connection_t         ngx_cms_redis_no_connection;


/* ngx_cms_redis_adapter.c */
ngx_int_t ngx_cms_redis_adapter_attach(redisAsyncContext *ac,
    ngx_log_t *log);

/* ngx_cms_redis_conn.c */
void ngx_cms_redis_conn_init(ngx_cms_redis_conn_t *conn, const char *role,
    ngx_log_t *log);
void ngx_cms_redis_conn_connect(ngx_cms_redis_conn_t *conn);
void ngx_cms_redis_conn_close(ngx_cms_redis_conn_t *conn,
    const char *reason, ngx_uint_t quiet);
void ngx_cms_redis_conn_stop(ngx_cms_redis_conn_t *conn);
void ngx_cms_redis_conn_lost(ngx_cms_redis_conn_t *conn);
void ngx_cms_redis_conn_set_reason(ngx_cms_redis_conn_t *conn,
    const char *fmt, ...);
void ngx_cms_redis_conn_handshake(ngx_cms_redis_conn_t *conn,
    const char *what, ngx_cms_redis_check_pt check, int argc,
    const char **argv, const size_t *argvlen);
void ngx_cms_redis_conn_auth(ngx_cms_redis_conn_t *conn);
void ngx_cms_redis_conn_subscribe(ngx_cms_redis_conn_t *conn,
    ngx_str_t *channel);
void ngx_cms_redis_conn_send(ngx_cms_redis_conn_t *conn,
    ngx_cms_redis_op_t *op, char *cmd, size_t len);
ngx_cms_redis_op_t *ngx_cms_redis_op_create(ngx_pool_t *pool,
    ngx_cms_redis_handler_pt handler, void *data);
void ngx_cms_redis_op_fail(ngx_cms_redis_op_t *op, const char *error);
void ngx_cms_redis_ops_flush(void);
void ngx_cms_redis_reschedule(ngx_cms_redis_conn_t *conn, ngx_msec_t delay);
ngx_msec_t ngx_cms_redis_now(void);

/* ngx_cms_redis.c */
ngx_int_t ngx_cms_redis_init_worker(ngx_cycle_t *cycle,
    ngx_cms_redis_main_conf_t *rmcf);
void ngx_cms_redis_start_worker(ngx_cycle_t *cycle);
void ngx_cms_redis_exit_worker(ngx_cycle_t *cycle);
/*
 * The stream's own commands: on its own connection with
 * cms_redis_stream_replicas (WAIT holds back every command after it on
 * a connection), else on the command connection.
 */
ngx_int_t ngx_cms_redis_script_submit(ngx_cms_redis_script_t *script,
    ngx_cms_redis_handler_pt handler, void *data, char *cmd, size_t len);
ngx_int_t ngx_cms_redis_wait_submit(ngx_uint_t replicas, ngx_msec_t timeout,
    ngx_cms_redis_handler_pt handler, void *data);
ngx_uint_t ngx_cms_redis_stream_conn_ready(void);
/* the stream hears that its own connection is up through this */
void ngx_cms_redis_stream_conn_watch(void (*ready)(void));

/* ngx_cms_redis_sentinel.c */
/*
 * The Sentinel client tells the data connections' owner (ngx_cms_redis.c)
 * through the two functions it registers: the master is known (connect
 * what is down), the master moved (leave the old one).
 */
ngx_int_t ngx_cms_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_cms_redis_main_conf_t *rmcf, void (*found)(void),
    void (*switched)(void));
void ngx_cms_redis_sentinel_refresh(void);
ngx_cms_redis_addr_t *ngx_cms_redis_sentinel_master(void);
void ngx_cms_redis_sentinel_exit(void);
void ngx_cms_redis_sentinel_status(ngx_cms_json_t *j);
ngx_int_t ngx_cms_redis_check_role(ngx_cms_redis_conn_t *conn,
    redisReply *reply);

/* ngx_cms_redis_spool.c */
ngx_cms_redis_spool_t *ngx_cms_redis_spool_create(ngx_str_t *dir,
    ngx_str_t *source, ngx_log_t *log);
ngx_int_t ngx_cms_redis_spool_append(ngx_cms_redis_spool_t *spool,
    u_char *line, size_t len, ngx_log_t *log);
ssize_t ngx_cms_redis_spool_read(ngx_cms_redis_spool_t *spool, u_char *buf,
    size_t size, ngx_log_t *log);
void ngx_cms_redis_spool_consume(ngx_cms_redis_spool_t *spool, off_t n,
    ngx_log_t *log);
off_t ngx_cms_redis_spool_used(ngx_cms_redis_spool_t *spool);
u_char *ngx_cms_redis_uint(u_char *p, uint64_t n);
u_char *ngx_cms_redis_bulk(u_char *p, const void *data, size_t len);
/* the most a bulk string adds to its data: "$" length CRLF ... CRLF */
#define NGX_CMS_REDIS_BULK  (1 + NGX_INT64_LEN + 4)
void ngx_cms_redis_spool_close(ngx_cms_redis_spool_t *spool, ngx_log_t *log);
ngx_uint_t ngx_cms_redis_spool_claim(ngx_str_t *dir,
    ngx_cms_redis_spool_t *own, ngx_queue_t *orphans, ngx_log_t *log);

/* ngx_cms_redis_stream.c */
ngx_int_t ngx_cms_redis_stream_configure(ngx_conf_t *cf,
    ngx_cms_redis_main_conf_t *rmcf);
ngx_int_t ngx_cms_redis_stream_init(ngx_cycle_t *cycle,
    ngx_cms_redis_main_conf_t *rmcf);
void ngx_cms_redis_stream_exit(void);
void ngx_cms_redis_stream_wake(void);
ngx_int_t ngx_cms_redis_stream_key_valid(ngx_str_t *key);
void ngx_cms_redis_stream_status(ngx_cms_json_t *j);

/* ngx_cms_redis_log.c */
char *ngx_cms_redis_stream_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_cms_redis_stream_postconfiguration(ngx_conf_t *cf,
    ngx_cms_redis_main_conf_t *rmcf);
ngx_int_t ngx_cms_redis_stream_log_handler(ngx_http_request_t *r);

/* ngx_cms_redis_status.c */
char *ngx_cms_redis_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);



#endif /* _NGX_CMS_REDIS_INT_H_INCLUDED_ */
