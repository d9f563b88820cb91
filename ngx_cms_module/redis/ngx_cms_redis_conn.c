
/*
 * ngx_cms Redis client: one connection's life.
 *
 *   DOWN --connect--> CONNECTING --handshake answered--> READY
 *     ^                    |                                |
 *     +---- reconnect <----+---- error, timeout, close -----+
 *           (backoff)            (CLOSING while hiredis frees)
 *
 * The handshake (AUTH, SELECT, SCRIPT LOAD, ROLE, PING, or the Sentinel
 * query: the owner decides) is pipelined right after connect() and the
 * connection only counts as READY once every step was answered, so a
 * wrong password or a Redis that accepts and never answers is simply a
 * connection that failed, with the reason kept for the status.
 *
 * hiredis 0.14 has no timeouts; nginx timers give three: connect_timeout
 * for connect + handshake, command_timeout for the oldest unanswered
 * command (replies come in order, so the head of the pending queue is
 * the one to watch) and for the pub/sub keep-alive.  Any of them drops
 * the connection: hiredis then runs every pending callback with a NULL
 * reply, which is how each waiting command gets its error exactly once.
 *
 * Rules kept because hiredis 0.14 would crash otherwise (async.c):
 *   - never redisAsyncFree() inside the connect callback (it is not
 *     marked "in callback", the caller would use the freed context);
 *   - redisAsyncFree() inside a reply callback is deferred by hiredis,
 *     so the connection is only marked CLOSING and new commands are
 *     refused until the adapter's cleanup says the context is gone;
 *   - nothing is reconnected from inside the cleanup: a timer does it.
 *
 * Commands that cannot be sent (not connected) fail through a queue
 * processed from a 1 ms timer, so a handler is never called from inside
 * the call that sent its command, and a handler that retries at once
 * cannot spin the event loop.
 *
 * Shutdown: every timer here is cancelable (a worker never waits for
 * Redis) except while a request waits for an answer, so that it gets one
 * before its worker exits rather than being cut off ("open socket left"):
 * the command timeout while a pool-bound command is in flight (a bounded
 * wait: command_timeout at most), and the 1 ms timer of the failure
 * queue while a pool-bound command is in it.
 */


#include "ngx_cms_redis_int.h"
#include "ngx_cms_metrics.h"


static void ngx_cms_redis_conn_connected(const redisAsyncContext *ac,
    int status);
static void ngx_cms_redis_conn_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_cms_redis_conn_handshake_reply(ngx_cms_redis_conn_t *conn,
    ngx_cms_redis_op_t *op, redisReply *reply);
static void ngx_cms_redis_conn_ready(ngx_cms_redis_conn_t *conn);
static ngx_int_t ngx_cms_redis_conn_eval(ngx_cms_redis_conn_t *conn,
    ngx_cms_redis_op_t *op);
static void ngx_cms_redis_conn_message(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_cms_redis_conn_arm(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_conn_connect_handler(ngx_event_t *ev);
static void ngx_cms_redis_conn_timeout_handler(ngx_event_t *ev);
static void ngx_cms_redis_conn_reconnect_handler(ngx_event_t *ev);
static void ngx_cms_redis_conn_ping_handler(ngx_event_t *ev);
static void ngx_cms_redis_op_finish(ngx_cms_redis_op_t *op,
    redisReply *reply, ngx_str_t *error);
static void ngx_cms_redis_op_free(ngx_cms_redis_op_t *op);
static void ngx_cms_redis_op_orphan(void *data);
static void ngx_cms_redis_failed_handler(ngx_event_t *ev);


/*
 * Timers without a connection still need ev->data to look like one: the
 * debug log prints ((ngx_connection_t *) ev->data)->fd.
 */

ngx_connection_t    ngx_cms_redis_no_connection;

static ngx_queue_t  ngx_cms_redis_failed;
static ngx_event_t  ngx_cms_redis_failed_ev;
static ngx_uint_t   ngx_cms_redis_failed_init;
static ngx_uint_t   ngx_cms_redis_failed_bound;  /* requests among them */


#define ngx_cms_redis_stopping()                                             \
    (ngx_cms_redis_worker.exiting || ngx_exiting || ngx_quit || ngx_terminate)


ngx_msec_t
ngx_cms_redis_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}


void
ngx_cms_redis_conn_init(ngx_cms_redis_conn_t *conn, const char *role,
    ngx_log_t *log)
{
    ngx_event_t  *ev[4];
    ngx_uint_t    i;

    conn->role = role;
    conn->state = NGX_CMS_REDIS_DOWN;
    conn->since = ngx_cms_redis_now();
    ngx_queue_init(&conn->pending);

    conn->connect_ev.handler = ngx_cms_redis_conn_connect_handler;
    conn->timeout_ev.handler = ngx_cms_redis_conn_timeout_handler;
    conn->reconnect_ev.handler = ngx_cms_redis_conn_reconnect_handler;
    conn->ping_ev.handler = ngx_cms_redis_conn_ping_handler;

    ev[0] = &conn->connect_ev;
    ev[1] = &conn->timeout_ev;
    ev[2] = &conn->reconnect_ev;
    ev[3] = &conn->ping_ev;

    for (i = 0; i < 4; i++) {
        ev[i]->data = conn;
        ev[i]->log = log;

        /* a worker shutting down must not wait for any of these */
        ev[i]->cancelable = 1;
    }

    if (!ngx_cms_redis_failed_init) {
        ngx_cms_redis_no_connection.fd = (ngx_socket_t) -1;

        ngx_queue_init(&ngx_cms_redis_failed);
        ngx_cms_redis_failed_ev.handler = ngx_cms_redis_failed_handler;
        ngx_cms_redis_failed_ev.log = log;
        ngx_cms_redis_failed_ev.data = &ngx_cms_redis_no_connection;
        ngx_cms_redis_failed_ev.cancelable = 1;
        ngx_cms_redis_failed_init = 1;
    }
}


void
ngx_cms_redis_conn_set_reason(ngx_cms_redis_conn_t *conn, const char *fmt,
    ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(conn->reason, conn->reason + NGX_CMS_REDIS_ERRLEN,
                      fmt, args);
    va_end(args);

    conn->reason_len = p - conn->reason;
}


void
ngx_cms_redis_conn_connect(ngx_cms_redis_conn_t *conn)
{
    ngx_log_t          *log;
    redisAsyncContext  *ac;

    if (conn->state != NGX_CMS_REDIS_DOWN || conn->stopped
        || ngx_cms_redis_stopping())
    {
        return;
    }

    if (conn->reconnect_ev.timer_set) {
        ngx_del_timer(&conn->reconnect_ev);
    }

    log = conn->connect_ev.log;

    conn->reason_len = 0;
    conn->quiet = 0;
    conn->was_ready = 0;
    conn->handshake = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, log, 0,
                   "cms redis: %s connecting to %V",
                   conn->role, &conn->addr.text);

    /* IPv4 literals only (checked at configuration): no DNS lookup here */

    if (conn->addr.port) {
        ac = redisAsyncConnect(conn->addr.host, conn->addr.port);

    } else {
        ac = redisAsyncConnectUnix(conn->addr.host);
    }

    if (ac == NULL) {
        ngx_cms_redis_conn_set_reason(conn, "cannot allocate a context");
        ngx_cms_redis_conn_lost(conn);
        return;
    }

    if (ac->err) {
        ngx_cms_redis_conn_set_reason(conn, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_cms_redis_conn_lost(conn);
        return;
    }

    if (ngx_cms_redis_adapter_attach(ac, log) != NGX_OK) {
        ngx_cms_redis_conn_set_reason(conn, "no free nginx connection");
        redisAsyncFree(ac);
        ngx_cms_redis_conn_lost(conn);
        return;
    }

    ac->data = conn;
    conn->ac = ac;
    conn->connection = ac->ev.data;
    conn->state = NGX_CMS_REDIS_CONNECTING;

    (void) redisAsyncSetConnectCallback(ac, ngx_cms_redis_conn_connected);

    ngx_add_timer(&conn->connect_ev, conn->connect_timeout);

    conn->send_handshake(conn);

    if (conn->reason_len) {
        /* a step could not even be queued */
        ngx_cms_redis_conn_close(conn, NULL, 0);
    }
}


void
ngx_cms_redis_conn_close(ngx_cms_redis_conn_t *conn, const char *reason,
    ngx_uint_t quiet)
{
    if (conn->ac == NULL
        || conn->state == NGX_CMS_REDIS_CLOSING
        || conn->state == NGX_CMS_REDIS_DOWN)
    {
        return;
    }

    if (reason && conn->reason_len == 0) {
        ngx_cms_redis_conn_set_reason(conn, "%s", reason);
    }

    conn->quiet = quiet;
    conn->state = NGX_CMS_REDIS_CLOSING;

    /* deferred by hiredis when called from one of its callbacks */
    redisAsyncFree(conn->ac);
}


/* the worker exits: no reconnect, no timer, every waiter answered */

void
ngx_cms_redis_conn_stop(ngx_cms_redis_conn_t *conn)
{
    conn->stopped = 1;

    if (conn->reconnect_ev.timer_set) {
        ngx_del_timer(&conn->reconnect_ev);
    }

    if (conn->ping_ev.timer_set) {
        ngx_del_timer(&conn->ping_ev);
    }

    if (conn->ac) {
        ngx_cms_redis_conn_set_reason(conn, "worker exiting");
        ngx_cms_redis_conn_close(conn, NULL, 1);
    }
}


/*
 * The context is gone (called by the adapter's cleanup, or directly when
 * connecting failed before there was one).  Every pending callback has
 * already run.
 */

void
ngx_cms_redis_conn_lost(ngx_cms_redis_conn_t *conn)
{
    size_t       len;
    u_char      *reason;
    ngx_log_t   *log;
    ngx_msec_t   delay;
    ngx_uint_t   was_ready, level;

    log = conn->connect_ev.log;
    was_ready = conn->was_ready;

    conn->ac = NULL;
    conn->connection = NULL;
    conn->state = NGX_CMS_REDIS_DOWN;
    conn->since = ngx_cms_redis_now();
    conn->handshake = 0;
    conn->pong_deadline = 0;

    if (conn->connect_ev.timer_set) {
        ngx_del_timer(&conn->connect_ev);
    }

    if (conn->timeout_ev.timer_set) {
        ngx_del_timer(&conn->timeout_ev);
    }

    if (conn->ping_ev.timer_set) {
        ngx_del_timer(&conn->ping_ev);
    }

    if (was_ready) {
        conn->disconnects++;
        ngx_cms_count(NGX_CMS_METRIC_REDIS_DISCONNECTS, 1);
    }

    if (!conn->quiet) {
        if (conn->reason_len) {
            reason = conn->reason;
            len = conn->reason_len;

        } else {
            reason = (u_char *) "connection closed";
            len = sizeof("connection closed") - 1;
        }

        /* log a failure once, not at every retry */

        level = NGX_LOG_ERR;

        if (conn->stopped || ngx_cms_redis_stopping()) {
            level = NGX_LOG_INFO;

        } else if (!was_ready && conn->error_logged
                   && len == conn->error_len
                   && ngx_memcmp(reason, conn->error, len) == 0)
        {
            level = NGX_LOG_DEBUG;
        }

        if (level != NGX_LOG_DEBUG) {
            ngx_log_error(level, log, 0,
                          was_ready ? "cms redis: %s connection to %V lost: "
                                      "%*s"
                                    : "cms redis: %s cannot connect to %V: "
                                      "%*s",
                          conn->role, &conn->addr.text, len, reason);
            conn->error_logged = 1;
        }

        ngx_memcpy(conn->error, reason, len);
        conn->error_len = len;
        conn->error_time = conn->since;
    }

    if (conn->on_lost) {
        conn->on_lost(conn);
    }

    if (!conn->stopped && !ngx_cms_redis_stopping()) {

        if (conn->quiet) {
            /* closed on purpose (a switch-over): come back at once */
            delay = 1;

        } else {
            conn->backoff = conn->backoff
                            ? ngx_min(conn->backoff * 2,
                                      NGX_CMS_REDIS_BACKOFF_MAX)
                            : NGX_CMS_REDIS_BACKOFF_MIN;

            /* half fixed, half random: workers do not retry in step */
            delay = conn->backoff / 2
                    + (ngx_msec_t) ngx_random() % (conn->backoff / 2 + 1);
        }

        ngx_cms_redis_reschedule(conn, delay);
    }

    conn->quiet = 0;
    conn->was_ready = 0;
}


void
ngx_cms_redis_reschedule(ngx_cms_redis_conn_t *conn, ngx_msec_t delay)
{
    if (conn->stopped || ngx_cms_redis_stopping()) {
        return;
    }

    ngx_add_timer(&conn->reconnect_ev, delay);
}


static void
ngx_cms_redis_conn_connected(const redisAsyncContext *ac, int status)
{
    ngx_cms_redis_conn_t  *conn = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after: only take notes */
        ngx_cms_redis_conn_set_reason(conn, "connect: %s", ac->c.errstr);
        conn->state = NGX_CMS_REDIS_CLOSING;
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, conn->connect_ev.log, 0,
                   "cms redis: %s connected to %V, handshake",
                   conn->role, &conn->addr.text);
}


/* a handshake step: sent before READY, checked by the owner's function */

void
ngx_cms_redis_conn_handshake(ngx_cms_redis_conn_t *conn, const char *what,
    ngx_cms_redis_check_pt check, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_cms_redis_op_t  *op;

    if (conn->ac == NULL || conn->reason_len) {
        return;
    }

    op = ngx_cms_redis_op_create(NULL, NULL, NULL);
    if (op == NULL) {
        ngx_cms_redis_conn_set_reason(conn, "%s: out of memory", what);
        return;
    }

    op->conn = conn;
    op->handshake = 1;
    op->what = what;
    op->check = check;

    if (redisAsyncCommandArgv(conn->ac, ngx_cms_redis_conn_reply, op, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_cms_redis_op_free(op);
        ngx_cms_redis_conn_set_reason(conn, "%s: cannot queue", what);
        return;
    }

    ngx_queue_insert_tail(&conn->pending, &op->queue);
    conn->handshake++;
}


void
ngx_cms_redis_conn_auth(ngx_cms_redis_conn_t *conn)
{
    int          argc;
    size_t       argvlen[3];
    const char  *argv[3];

    if (conn->password.len == 0) {
        return;
    }

    argc = 0;
    argv[argc] = "AUTH";
    argvlen[argc++] = 4;

    if (conn->user.len) {
        argv[argc] = (const char *) conn->user.data;
        argvlen[argc++] = conn->user.len;
    }

    argv[argc] = (const char *) conn->password.data;
    argvlen[argc++] = conn->password.len;

    ngx_cms_redis_conn_handshake(conn, "AUTH", NULL, argc, argv, argvlen);
}


static void
ngx_cms_redis_conn_handshake_reply(ngx_cms_redis_conn_t *conn,
    ngx_cms_redis_op_t *op, redisReply *reply)
{
    ngx_int_t  rc;

    rc = NGX_OK;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_cms_redis_conn_set_reason(conn, "%s: %*s", op->what,
                                      reply->len, reply->str);
        rc = NGX_ERROR;

    } else if (op->check) {
        rc = op->check(conn, reply);
    }

    ngx_cms_redis_op_free(op);

    if (rc != NGX_OK) {
        ngx_cms_redis_conn_close(conn, NULL, 0);
        return;
    }

    if (--conn->handshake == 0 && conn->state == NGX_CMS_REDIS_CONNECTING) {
        ngx_cms_redis_conn_ready(conn);
    }
}


static void
ngx_cms_redis_conn_ready(ngx_cms_redis_conn_t *conn)
{
    ngx_uint_t  level;

    if (conn->connect_ev.timer_set) {
        ngx_del_timer(&conn->connect_ev);
    }

    conn->state = NGX_CMS_REDIS_READY;
    conn->was_ready = 1;
    conn->backoff = 0;
    conn->since = ngx_cms_redis_now();
    conn->connects++;
    ngx_cms_count(NGX_CMS_METRIC_REDIS_CONNECTS, 1);

    level = conn->error_logged ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, conn->connect_ev.log, 0,
                  "cms redis: %s connected to %V",
                  conn->role, &conn->addr.text);

    conn->error_logged = 0;

    if (conn->ping_interval) {
        ngx_add_timer(&conn->ping_ev, conn->ping_interval);
    }

    if (conn->on_ready) {
        conn->on_ready(conn);
    }
}


/*
 * Sends a formatted command for op.  Whatever happens, op's handler will
 * be called once: with the reply, or later with an error.
 */

void
ngx_cms_redis_conn_send(ngx_cms_redis_conn_t *conn, ngx_cms_redis_op_t *op,
    char *cmd, size_t len)
{
    op->conn = conn;

    if (conn->state != NGX_CMS_REDIS_READY || conn->ac == NULL) {
        ngx_cms_redis_op_fail(op, "not connected");
        return;
    }

    if (redisAsyncFormattedCommand(conn->ac, ngx_cms_redis_conn_reply, op,
                                   cmd, len)
        != REDIS_OK)
    {
        ngx_cms_redis_op_fail(op, "not connected");
        return;
    }

    op->deadline = ngx_current_msec + conn->command_timeout;
    ngx_queue_insert_tail(&conn->pending, &op->queue);
    conn->sent++;
    ngx_cms_count(NGX_CMS_METRIC_REDIS_SENT, 1);

    if (op->bound && op->handler) {
        op->waiting = 1;
        conn->waiting++;
        conn->timeout_ev.cancelable = 0;
    }

    if (!conn->timeout_ev.timer_set) {
        ngx_cms_redis_conn_arm(conn);
    }
}


static void
ngx_cms_redis_conn_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_cms_redis_op_t    *op = privdata;
    ngx_cms_redis_conn_t  *conn = op->conn;
    redisReply            *reply = r;

    ngx_str_t   err;
    ngx_uint_t  readonly;

    ngx_queue_remove(&op->queue);

    if (reply == NULL) {

        /* hiredis is freeing the context: error, EOF, or our own close */

        if (conn->state != NGX_CMS_REDIS_CLOSING) {
            conn->state = NGX_CMS_REDIS_CLOSING;

            if (conn->reason_len == 0) {
                ngx_cms_redis_conn_set_reason(conn, "%s",
                    ac->c.errstr[0] ? ac->c.errstr : "connection closed");
            }
        }

        if (op->handshake) {
            ngx_cms_redis_op_free(op);
            return;
        }

        err.data = conn->reason;
        err.len = conn->reason_len;

        ngx_cms_redis_op_finish(op, NULL, &err);
        return;
    }

    if (op->handshake) {
        ngx_cms_redis_conn_handshake_reply(conn, op, reply);
        return;
    }

    readonly = 0;

    if (reply->type == REDIS_REPLY_ERROR) {

        if (op->script && !op->retried
            && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ngx_cms_redis_conn_eval(conn, op) == NGX_OK)
        {
            return;
        }

        /* a demoted master: writes will never work here again */
        readonly = (reply->len >= 8
                    && ngx_strncmp(reply->str, "READONLY", 8) == 0);

        err.data = (u_char *) reply->str;
        err.len = reply->len;

        ngx_cms_redis_op_finish(op, reply, &err);

    } else {
        ngx_cms_redis_op_finish(op, reply, NULL);
    }

    if (readonly) {
        ngx_cms_redis_conn_close(conn, "READONLY: the server is a replica",
                                 0);
    }

    ngx_cms_redis_conn_arm(conn);
}


/*
 * NOSCRIPT: send the same call as EVAL.  op->cmd is the formatted
 *     *<n>\r\n$7\r\nEVALSHA\r\n$40\r\n<sha1>\r\n<the rest>
 * and the EVAL has the same <n>, the source in place of the sha1 and the
 * same rest.
 */

static ngx_int_t
ngx_cms_redis_conn_eval(ngx_cms_redis_conn_t *conn, ngx_cms_redis_op_t *op)
{
    char        *p, *end, *rest, *first, *cmd;
    size_t       len;
    ngx_str_t   *src;
    ngx_uint_t   crlf;

    if (conn->state != NGX_CMS_REDIS_READY || op->cmd == NULL) {
        return NGX_ERROR;
    }

    p = op->cmd;
    end = op->cmd + op->len;
    first = NULL;
    rest = NULL;
    crlf = 0;

    for ( /* void */ ; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            if (++crlf == 1) {
                first = p + 2;

            } else if (crlf == 5) {
                rest = p + 2;
                break;
            }
        }
    }

    if (rest == NULL) {
        return NGX_ERROR;
    }

    src = &op->script->source;
    len = (first - op->cmd) + sizeof("$4\r\nEVAL\r\n$\r\n") - 1
          + NGX_SIZE_T_LEN + src->len + 2 + (end - rest);

    cmd = ngx_alloc(len, conn->connect_ev.log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    p = (char *) ngx_cpymem(cmd, op->cmd, first - op->cmd);
    p = (char *) ngx_sprintf((u_char *) p, "$4\r\nEVAL\r\n$%uz\r\n",
                             src->len);
    p = (char *) ngx_cpymem(p, src->data, src->len);
    *p++ = '\r';
    *p++ = '\n';
    p = (char *) ngx_cpymem(p, rest, end - rest);

    if (redisAsyncFormattedCommand(conn->ac, ngx_cms_redis_conn_reply, op,
                                   cmd, p - cmd)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    ngx_free(cmd);

    op->retried = 1;
    op->deadline = ngx_current_msec + conn->command_timeout;
    ngx_queue_insert_tail(&conn->pending, &op->queue);
    conn->sent++;
    ngx_cms_count(NGX_CMS_METRIC_REDIS_SENT, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, conn->connect_ev.log, 0,
                   "cms redis: NOSCRIPT, sent as EVAL: %s",
                   op->script->sha1);

    return NGX_OK;
}


/* pub/sub: SUBSCRIBE, its confirmations and messages */

void
ngx_cms_redis_conn_subscribe(ngx_cms_redis_conn_t *conn, ngx_str_t *channel)
{
    size_t       argvlen[2];
    const char  *argv[2];

    if (conn->state != NGX_CMS_REDIS_READY || conn->ac == NULL) {
        return;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = (const char *) channel->data;
    argvlen[1] = channel->len;

    /* privdata is the connection: it outlives every subscription */

    (void) redisAsyncCommandArgv(conn->ac, ngx_cms_redis_conn_message, conn,
                                 2, argv, argvlen);
}


static void
ngx_cms_redis_conn_message(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_cms_redis_conn_t  *conn = privdata;
    redisReply            *reply = r;

    ngx_str_t     channel, message;
    redisReply  **e;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || conn->state != NGX_CMS_REDIS_READY)
    {
        return;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (e[0]->len == 9 && ngx_strncmp(e[0]->str, "subscribe", 9) == 0) {

        /* the keep-alive is a repeated SUBSCRIBE: this is its answer */

        if (conn->pong_deadline) {
            conn->pong_deadline = 0;
            ngx_cms_redis_conn_arm(conn);
        }

        return;
    }

    if (e[0]->len == 7 && ngx_strncmp(e[0]->str, "message", 7) == 0
        && e[2]->type == REDIS_REPLY_STRING && conn->on_message)
    {
        channel.data = (u_char *) e[1]->str;
        channel.len = e[1]->len;
        message.data = (u_char *) e[2]->str;
        message.len = e[2]->len;

        conn->on_message(conn, &channel, &message);
    }
}


/* the timeout timer follows the oldest command and the keep-alive */

static void
ngx_cms_redis_conn_arm(ngx_cms_redis_conn_t *conn)
{
    ngx_msec_t           deadline;
    ngx_uint_t           have;
    ngx_msec_int_t       delay;
    ngx_cms_redis_op_t  *op;

    /* an exiting worker waits for this timer only for a waiting request */
    conn->timeout_ev.cancelable = (conn->waiting == 0);

    if (conn->state != NGX_CMS_REDIS_READY) {
        if (conn->timeout_ev.timer_set) {
            ngx_del_timer(&conn->timeout_ev);
        }

        return;
    }

    have = 0;
    deadline = 0;

    if (!ngx_queue_empty(&conn->pending)) {
        op = ngx_queue_data(ngx_queue_head(&conn->pending),
                            ngx_cms_redis_op_t, queue);
        deadline = op->deadline;
        have = 1;
    }

    if (conn->pong_deadline
        && (!have || (ngx_msec_int_t) (conn->pong_deadline - deadline) < 0))
    {
        deadline = conn->pong_deadline;
        have = 1;
    }

    if (!have) {
        if (conn->timeout_ev.timer_set) {
            ngx_del_timer(&conn->timeout_ev);
        }

        return;
    }

    delay = (ngx_msec_int_t) (deadline - ngx_current_msec);

    ngx_add_timer(&conn->timeout_ev, delay > 0 ? (ngx_msec_t) delay : 1);
}


static void
ngx_cms_redis_conn_connect_handler(ngx_event_t *ev)
{
    ngx_cms_redis_conn_t  *conn = ev->data;
    u_char                 buf[64];

    if (conn->state != NGX_CMS_REDIS_CONNECTING) {
        return;
    }

    ngx_snprintf(buf, sizeof(buf), "connect timeout (%M ms)%Z",
                 conn->connect_timeout);

    ngx_cms_redis_conn_close(conn, (char *) buf, 0);
}


static void
ngx_cms_redis_conn_timeout_handler(ngx_event_t *ev)
{
    ngx_cms_redis_conn_t  *conn = ev->data;
    u_char                 buf[64];
    ngx_cms_redis_op_t    *op;

    if (conn->state != NGX_CMS_REDIS_READY) {
        return;
    }

    if (!ngx_queue_empty(&conn->pending)) {
        op = ngx_queue_data(ngx_queue_head(&conn->pending),
                            ngx_cms_redis_op_t, queue);

        if ((ngx_msec_int_t) (op->deadline - ngx_current_msec) <= 0) {
            ngx_snprintf(buf, sizeof(buf), "command timeout (%M ms)%Z",
                         conn->command_timeout);
            ngx_cms_redis_conn_close(conn, (char *) buf, 0);
            return;
        }
    }

    if (conn->pong_deadline
        && (ngx_msec_int_t) (conn->pong_deadline - ngx_current_msec) <= 0)
    {
        ngx_snprintf(buf, sizeof(buf), "keep-alive timeout (%M ms)%Z",
                     conn->command_timeout);
        ngx_cms_redis_conn_close(conn, (char *) buf, 0);
        return;
    }

    ngx_cms_redis_conn_arm(conn);
}


static void
ngx_cms_redis_conn_reconnect_handler(ngx_event_t *ev)
{
    ngx_cms_redis_conn_t  *conn = ev->data;

    if (conn->stopped || ngx_cms_redis_stopping()
        || conn->state != NGX_CMS_REDIS_DOWN)
    {
        return;
    }

    if (conn->on_reconnect) {
        conn->on_reconnect(conn);

    } else {
        ngx_cms_redis_conn_connect(conn);
    }
}


static void
ngx_cms_redis_conn_ping_handler(ngx_event_t *ev)
{
    ngx_cms_redis_conn_t  *conn = ev->data;
    char                  *cmd;
    int                    len;
    ngx_cms_redis_op_t    *op;

    if (conn->stopped || ngx_cms_redis_stopping()
        || conn->state != NGX_CMS_REDIS_READY)
    {
        return;
    }

    if (conn->ping_subscribe) {

        /*
         * A subscribed connection cannot PING in hiredis 0.14 (the reply
         * would never meet its callback); SUBSCRIBE again to a channel we
         * are on: the confirmation is the pong.
         */

        if (conn->pong_deadline == 0) {
            conn->pong_deadline = ngx_current_msec + conn->command_timeout;
            ngx_cms_redis_conn_subscribe(conn, &conn->keepalive);
            ngx_cms_redis_conn_arm(conn);
        }

    } else {
        op = ngx_cms_redis_op_create(NULL, NULL, NULL);
        len = redisFormatCommand(&cmd, "PING");

        if (op && len > 0) {
            ngx_cms_redis_conn_send(conn, op, cmd, len);

        } else if (op) {
            ngx_cms_redis_op_free(op);
        }

        if (len > 0) {
            redisFreeCommand(cmd);
        }
    }

    ngx_add_timer(&conn->ping_ev, conn->ping_interval);
}


/* pending operations */

ngx_cms_redis_op_t *
ngx_cms_redis_op_create(ngx_pool_t *pool, ngx_cms_redis_handler_pt handler,
    void *data)
{
    ngx_cms_redis_op_t  *op;
    ngx_pool_cleanup_t  *cln;

    op = ngx_calloc(sizeof(ngx_cms_redis_op_t), ngx_cycle->log);
    if (op == NULL) {
        return NULL;
    }

    if (pool) {
        cln = ngx_pool_cleanup_add(pool, 0);
        if (cln == NULL) {
            ngx_free(op);
            return NULL;
        }

        cln->handler = ngx_cms_redis_op_orphan;
        cln->data = op;

        op->cln = cln;
        op->bound = 1;
    }

    op->handler = handler;
    op->data = data;

    return op;
}


/* the requester's pool is going away: the answer will have nobody to go to */

static void
ngx_cms_redis_op_orphan(void *data)
{
    ngx_cms_redis_op_t  *op = data;

    if (op->waiting) {
        op->waiting = 0;
        op->conn->waiting--;
        op->conn->timeout_ev.cancelable = (op->conn->waiting == 0);
    }

    op->orphaned = 1;
    op->data = NULL;
    op->cln = NULL;
}


static void
ngx_cms_redis_op_free(ngx_cms_redis_op_t *op)
{
    if (op->waiting) {
        op->conn->waiting--;
    }

    if (op->cln) {
        op->cln->handler = NULL;
    }

    if (op->cmd) {
        redisFreeCommand(op->cmd);
    }

    ngx_free(op);
}


static void
ngx_cms_redis_op_finish(ngx_cms_redis_op_t *op, redisReply *reply,
    ngx_str_t *error)
{
    void                      *data;
    ngx_str_t                  err;
    ngx_cms_redis_handler_pt   handler;

    handler = op->handler;
    data = op->data;

    /* the error may live in the op (a failure queued early) */

    if (error) {
        err = *error;
        error = &err;
    }

    if (op->orphaned) {
        ngx_cms_redis_worker.orphaned++;
        data = NULL;

    } else if (op->bound && ngx_cms_redis_worker.exiting) {
        /* never resume a request from exit_process */
        data = NULL;
    }

    if (error && op->conn) {
        op->conn->failed++;
        ngx_cms_count(NGX_CMS_METRIC_REDIS_FAILED, 1);
    }

    /* detach from the pool first: the handler may destroy it */
    ngx_cms_redis_op_free(op);

    if (handler) {
        handler(reply, error, data);
    }
}


void
ngx_cms_redis_op_fail(ngx_cms_redis_op_t *op, const char *error)
{
    op->error.data = (u_char *) error;
    op->error.len = ngx_strlen(error);

    ngx_queue_insert_tail(&ngx_cms_redis_failed, &op->queue);

    /* an exiting worker waits for requests, not for background work */

    if (op->bound) {
        ngx_cms_redis_failed_bound++;
    }

    ngx_cms_redis_failed_ev.cancelable = (ngx_cms_redis_failed_bound == 0);

    if (!ngx_cms_redis_failed_ev.timer_set) {
        ngx_add_timer(&ngx_cms_redis_failed_ev, 1);
    }
}


static void
ngx_cms_redis_failed_handler(ngx_event_t *ev)
{
    ngx_queue_t          batch, *q;
    ngx_cms_redis_op_t  *op;

    /* what handlers queue now waits for the next round */

    ngx_queue_init(&batch);

    if (!ngx_queue_empty(&ngx_cms_redis_failed)) {
        ngx_queue_add(&batch, &ngx_cms_redis_failed);
        ngx_queue_init(&ngx_cms_redis_failed);
    }

    ngx_cms_redis_failed_bound = 0;

    while (!ngx_queue_empty(&batch)) {
        q = ngx_queue_head(&batch);
        ngx_queue_remove(q);

        op = ngx_queue_data(q, ngx_cms_redis_op_t, queue);
        ngx_cms_redis_op_finish(op, NULL, &op->error);
    }
}


/* exit: answer what is still waiting, now */

void
ngx_cms_redis_ops_flush(void)
{
    ngx_uint_t  n;

    if (!ngx_cms_redis_failed_init) {
        return;
    }

    /* handlers may queue more; they fail at once while exiting */

    for (n = 0; n < 16 && !ngx_queue_empty(&ngx_cms_redis_failed); n++) {
        ngx_cms_redis_failed_handler(&ngx_cms_redis_failed_ev);
    }

    if (ngx_cms_redis_failed_ev.timer_set) {
        ngx_del_timer(&ngx_cms_redis_failed_ev);
    }
}
