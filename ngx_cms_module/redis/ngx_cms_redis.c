
/*
 * ngx_cms Redis client: this worker's connections (commands, pub/sub,
 * and with cms_redis_stream_replicas one of the stream's own) and the
 * public API on top of them.
 */


#include "ngx_cms_redis_int.h"


static void ngx_cms_redis_cmd_handshake(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_pubsub_handshake(ngx_cms_redis_conn_t *conn);
static ngx_int_t ngx_cms_redis_check_script(ngx_cms_redis_conn_t *conn,
    redisReply *reply);
static void ngx_cms_redis_cmd_ready(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_cmd_lost(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_stream_conn_up(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_pubsub_ready(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_pubsub_message(ngx_cms_redis_conn_t *conn,
    ngx_str_t *channel, ngx_str_t *message);
static void ngx_cms_redis_data_reconnect(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_data_connect(void);
static void ngx_cms_redis_data_restart(void);
static void ngx_cms_redis_notify(ngx_uint_t available);
static void ngx_cms_redis_lists(void);
static void ngx_cms_redis_free_lists(void);
static ngx_cms_redis_main_conf_t *ngx_cms_redis_conf(void);
static void ngx_cms_redis_sub_send(ngx_cms_redis_sub_t *sub);
static ngx_int_t ngx_cms_redis_submit(ngx_cms_redis_conn_t *conn,
    ngx_pool_t *pool, ngx_cms_redis_handler_pt handler, void *data,
    char *cmd, int len, ngx_cms_redis_script_t *script);
static ngx_uint_t ngx_cms_redis_allowed(char *cmd, size_t len);
static ngx_int_t ngx_cms_redis_format_argv(char **cmd, ngx_uint_t argc,
    ngx_str_t *argv, const char *first, size_t first_len, ngx_log_t *log);


ngx_cms_redis_worker_t  ngx_cms_redis_worker;


ngx_int_t
ngx_cms_redis_init_worker(ngx_cycle_t *cycle,
    ngx_cms_redis_main_conf_t *rmcf)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_cms_redis_conn_t    *conn;
    ngx_cms_redis_worker_t  *w;

    static ngx_str_t  keepalive = ngx_string("cms:keepalive");

    w = &ngx_cms_redis_worker;

    /* subscriptions and watchers may have come first (init_process) */
    ngx_cms_redis_lists();

    w->conf = rmcf;
    w->log = cycle->log;
    w->orphaned = 0;
    w->exiting = 0;

    /* names this process for the stream's duplicate check */

    p = ngx_pnalloc(cycle->pool, cycle->hostname.len + 2 * NGX_INT64_LEN
                                 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    w->source.data = p;
    w->source.len = ngx_sprintf(p, "%V:%P:%M", &cycle->hostname, ngx_pid,
                                ngx_cms_redis_now())
                    - p;

    conn = &w->cmd;
    ngx_cms_redis_conn_init(conn, "redis", cycle->log);
    conn->send_handshake = ngx_cms_redis_cmd_handshake;
    conn->on_ready = ngx_cms_redis_cmd_ready;
    conn->on_lost = ngx_cms_redis_cmd_lost;

    conn = &w->pubsub;
    ngx_cms_redis_conn_init(conn, "redis pub/sub", cycle->log);
    conn->send_handshake = ngx_cms_redis_pubsub_handshake;
    conn->on_ready = ngx_cms_redis_pubsub_ready;
    conn->on_message = ngx_cms_redis_pubsub_message;
    conn->ping_subscribe = 1;

    if (ngx_cms_redis_key(cycle->pool, &keepalive, &conn->keepalive)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    w->data[0] = &w->cmd;
    w->data[1] = &w->pubsub;
    w->ndata = 2;
    w->stream_ready = NULL;

    /*
     * WAIT holds back every command sent after it on its connection,
     * for up to its timeout while a replica lags or is gone: the stream
     * gets a connection of its own, so slot decisions and the rest never
     * wait behind it.
     */

    if (rmcf->stream_replicas) {
        conn = &w->stream;
        ngx_cms_redis_conn_init(conn, "redis stream", cycle->log);
        conn->send_handshake = ngx_cms_redis_cmd_handshake;
        conn->on_ready = ngx_cms_redis_stream_conn_up;
        w->data[w->ndata++] = conn;
    }

    for (i = 0; i < w->ndata; i++) {
        conn = w->data[i];
        conn->user = rmcf->user;
        conn->password = rmcf->password;
        conn->db = rmcf->db;
        conn->connect_timeout = rmcf->connect_timeout;
        conn->command_timeout = rmcf->command_timeout;
        conn->ping_interval = rmcf->ping_interval;
        conn->on_reconnect = ngx_cms_redis_data_reconnect;

        /* a WAIT is answered after up to its own timeout */
        if (conn == &w->stream) {
            conn->command_timeout += rmcf->stream_replicas_timeout;
        }

        if (rmcf->addr) {
            conn->addr = *rmcf->addr;
            conn->addr.text.data = conn->addr.text_data;
        }
    }

    w->running = 1;

    return NGX_OK;
}


/* after the stream and the subscriptions are in place */

void
ngx_cms_redis_start_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (w->conf->sentinels) {
        (void) ngx_cms_redis_sentinel_init(cycle, w->conf,
                                           ngx_cms_redis_data_connect,
                                           ngx_cms_redis_data_restart);
        return;
    }

    for (i = 0; i < w->ndata; i++) {
        ngx_cms_redis_conn_connect(w->data[i]);
    }
}


void
ngx_cms_redis_exit_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->running) {
        ngx_cms_redis_free_lists();
        return;
    }

    w->exiting = 1;

    /* the stream's batch in flight is answered "worker exiting" here */

    for (i = 0; i < w->ndata; i++) {
        ngx_cms_redis_conn_stop(w->data[i]);
    }

    ngx_cms_redis_sentinel_exit();
    ngx_cms_redis_stream_exit();
    ngx_cms_redis_ops_flush();
    ngx_cms_redis_free_lists();

    w->running = 0;
}


static void
ngx_cms_redis_lists(void)
{
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->lists) {
        ngx_queue_init(&w->subs);
        ngx_queue_init(&w->watchers);
        w->lists = 1;
    }
}


static void
ngx_cms_redis_free_lists(void)
{
    ngx_queue_t             *q;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->lists) {
        return;
    }

    while (!ngx_queue_empty(&w->subs)) {
        q = ngx_queue_head(&w->subs);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_cms_redis_sub_t, queue));
    }

    while (!ngx_queue_empty(&w->watchers)) {
        q = ngx_queue_head(&w->watchers);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_cms_redis_watcher_t, queue));
    }
}


/*
 * The configuration a worker runs with, also before this module's
 * init_process ran (a module earlier in the list may subscribe from its
 * own); NULL outside a worker or without Redis.
 */

static ngx_cms_redis_main_conf_t *
ngx_cms_redis_conf(void)
{
    ngx_cms_redis_main_conf_t  *rmcf;

    if (ngx_cms_redis_worker.conf) {
        return ngx_cms_redis_worker.conf;
    }

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NULL;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_redis_module);

    return (rmcf && rmcf->enabled) ? rmcf : NULL;
}


/* handshakes */

static void
ngx_cms_redis_cmd_handshake(ngx_cms_redis_conn_t *conn)
{
    u_char                      buf[NGX_INT_T_LEN];
    size_t                      argvlen[3];
    ngx_uint_t                  i;
    const char                 *argv[3];
    ngx_cms_redis_script_t    **script;
    ngx_cms_redis_main_conf_t  *rmcf;

    rmcf = ngx_cms_redis_worker.conf;

    ngx_cms_redis_conn_auth(conn);

    if (conn->db >= 0) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) buf;
        argvlen[1] = ngx_sprintf(buf, "%i", conn->db) - buf;
        ngx_cms_redis_conn_handshake(conn, "SELECT", NULL, 2, argv, argvlen);
    }

    if (rmcf->sentinels) {
        argv[0] = "ROLE";
        argvlen[0] = 4;
        ngx_cms_redis_conn_handshake(conn, "ROLE", ngx_cms_redis_check_role,
                                     1, argv, argvlen);
    }

    if (rmcf->scripts) {
        script = rmcf->scripts->elts;

        for (i = 0; i < rmcf->scripts->nelts; i++) {
            argv[0] = "SCRIPT";
            argvlen[0] = 6;
            argv[1] = "LOAD";
            argvlen[1] = 4;
            argv[2] = (const char *) script[i]->source.data;
            argvlen[2] = script[i]->source.len;
            ngx_cms_redis_conn_handshake(conn, "SCRIPT LOAD",
                                         ngx_cms_redis_check_script,
                                         3, argv, argvlen);
        }
    }

    /* answers NOAUTH or LOADING when nothing else would have */

    argv[0] = "PING";
    argvlen[0] = 4;
    ngx_cms_redis_conn_handshake(conn, "PING", NULL, 1, argv, argvlen);
}


static void
ngx_cms_redis_pubsub_handshake(ngx_cms_redis_conn_t *conn)
{
    size_t       argvlen[1];
    const char  *argv[1];

    ngx_cms_redis_conn_auth(conn);

    if (ngx_cms_redis_worker.conf->sentinels) {
        argv[0] = "ROLE";
        argvlen[0] = 4;
        ngx_cms_redis_conn_handshake(conn, "ROLE", ngx_cms_redis_check_role,
                                     1, argv, argvlen);
    }

    argv[0] = "PING";
    argvlen[0] = 4;
    ngx_cms_redis_conn_handshake(conn, "PING", NULL, 1, argv, argvlen);
}


static ngx_int_t
ngx_cms_redis_check_script(ngx_cms_redis_conn_t *conn, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        ngx_cms_redis_conn_set_reason(conn, "SCRIPT LOAD: unexpected reply");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_cms_redis_cmd_ready(ngx_cms_redis_conn_t *conn)
{
    /* the stream is among the watchers (the first) */
    ngx_cms_redis_notify(1);
}


static void
ngx_cms_redis_cmd_lost(ngx_cms_redis_conn_t *conn)
{
    if (conn->was_ready) {
        ngx_cms_redis_notify(0);
    }
}


static void
ngx_cms_redis_stream_conn_up(ngx_cms_redis_conn_t *conn)
{
    if (ngx_cms_redis_worker.stream_ready) {
        ngx_cms_redis_worker.stream_ready();
    }
}


static void
ngx_cms_redis_pubsub_ready(ngx_cms_redis_conn_t *conn)
{
    ngx_queue_t          *q;
    ngx_cms_redis_sub_t  *sub;

    ngx_cms_redis_conn_subscribe(conn, &conn->keepalive);

    for (q = ngx_queue_head(&ngx_cms_redis_worker.subs);
         q != ngx_queue_sentinel(&ngx_cms_redis_worker.subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_cms_redis_sub_t, queue);
        ngx_cms_redis_sub_send(sub);
    }
}


static void
ngx_cms_redis_sub_send(ngx_cms_redis_sub_t *sub)
{
    ngx_str_t              channel, *prefix;
    ngx_cms_redis_conn_t  *conn;

    conn = &ngx_cms_redis_worker.pubsub;

    if (conn->state != NGX_CMS_REDIS_READY) {
        return;
    }

    prefix = &ngx_cms_redis_worker.conf->prefix;

    channel.len = prefix->len + sub->name.len;
    channel.data = ngx_alloc(channel.len, ngx_cycle->log);
    if (channel.data == NULL) {
        return;
    }

    ngx_memcpy(ngx_cpymem(channel.data, prefix->data, prefix->len),
               sub->name.data, sub->name.len);

    /* hiredis copies the command */
    ngx_cms_redis_conn_subscribe(conn, &channel);

    ngx_free(channel.data);
}


static void
ngx_cms_redis_pubsub_message(ngx_cms_redis_conn_t *conn, ngx_str_t *channel,
    ngx_str_t *message)
{
    ngx_str_t            *prefix;
    ngx_queue_t          *q;
    ngx_cms_redis_sub_t  *sub;

    prefix = &ngx_cms_redis_worker.conf->prefix;

    if (channel->len < prefix->len
        || ngx_memcmp(channel->data, prefix->data, prefix->len) != 0)
    {
        return;
    }

    for (q = ngx_queue_head(&ngx_cms_redis_worker.subs);
         q != ngx_queue_sentinel(&ngx_cms_redis_worker.subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_cms_redis_sub_t, queue);

        if (sub->name.len == channel->len - prefix->len
            && ngx_memcmp(sub->name.data, channel->data + prefix->len,
                          sub->name.len)
               == 0)
        {
            sub->handler(&sub->name, message, sub->data);
        }
    }
}


/*
 * Where the data connections go next.  With Sentinel a lost connection
 * asks the Sentinel again (the master may have moved) unless the Sentinel
 * has just told us where to go.
 */

static void
ngx_cms_redis_data_reconnect(ngx_cms_redis_conn_t *conn)
{
    ngx_cms_redis_addr_t  *master;

    if (ngx_cms_redis_worker.conf->sentinels == NULL) {
        ngx_cms_redis_conn_connect(conn);
        return;
    }

    master = ngx_cms_redis_sentinel_master();

    if (!conn->direct || master == NULL) {
        ngx_cms_redis_sentinel_refresh();
        return;
    }

    conn->direct = 0;
    conn->addr = *master;
    conn->addr.text.data = conn->addr.text_data;

    ngx_cms_redis_conn_connect(conn);
}


/* the Sentinel knows the master: connect what is down */

static void
ngx_cms_redis_data_connect(void)
{
    ngx_uint_t             i;
    ngx_cms_redis_conn_t  *conn;
    ngx_cms_redis_addr_t  *master;

    master = ngx_cms_redis_sentinel_master();
    if (master == NULL) {
        return;
    }

    for (i = 0; i < ngx_cms_redis_worker.ndata; i++) {
        conn = ngx_cms_redis_worker.data[i];

        if (conn->state == NGX_CMS_REDIS_DOWN) {
            conn->direct = 0;
            conn->addr = *master;
            conn->addr.text.data = conn->addr.text_data;
            ngx_cms_redis_conn_connect(conn);
        }
    }
}


/* the master moved: leave the old one, go straight to the new one */

static void
ngx_cms_redis_data_restart(void)
{
    ngx_uint_t             i;
    ngx_cms_redis_conn_t  *conn;

    for (i = 0; i < ngx_cms_redis_worker.ndata; i++) {
        conn = ngx_cms_redis_worker.data[i];

        if (conn->state == NGX_CMS_REDIS_DOWN) {
            continue;
        }

        conn->direct = 1;
        ngx_cms_redis_conn_set_reason(conn, "master switched");
        ngx_cms_redis_conn_close(conn, NULL, 1);
    }

    ngx_cms_redis_data_connect();
}


static void
ngx_cms_redis_notify(ngx_uint_t available)
{
    ngx_queue_t              *q, *next;
    ngx_cms_redis_watcher_t  *wt;

    for (q = ngx_queue_head(&ngx_cms_redis_worker.watchers);
         q != ngx_queue_sentinel(&ngx_cms_redis_worker.watchers);
         q = next)
    {
        next = ngx_queue_next(q);
        wt = ngx_queue_data(q, ngx_cms_redis_watcher_t, queue);
        wt->handler(available, wt->data);
    }
}


/* the public API */

ngx_uint_t
ngx_cms_redis_available(void)
{
    return ngx_cms_redis_worker.running
           && ngx_cms_redis_worker.cmd.state == NGX_CMS_REDIS_READY;
}


/*
 * The master this worker's command connection talks to (the configured
 * address, or the one Sentinel gave): empty when not connected.
 */

void
ngx_cms_redis_master(ngx_str_t *addr)
{
    if (!ngx_cms_redis_available()) {
        ngx_str_null(addr);
        return;
    }

    *addr = ngx_cms_redis_worker.cmd.addr.text;
}


/* name and key may be the same string: it is read before key is set */

ngx_int_t
ngx_cms_redis_key(ngx_pool_t *pool, ngx_str_t *name, ngx_str_t *key)
{
    u_char     *p, *start;
    ngx_str_t   src, *prefix;

    ngx_cms_redis_main_conf_t  *rmcf;

    rmcf = ngx_cms_redis_conf();
    prefix = rmcf ? &rmcf->prefix : NULL;

    src = *name;

    start = ngx_pnalloc(pool, (prefix ? prefix->len : 0) + src.len + 1);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    if (prefix) {
        p = ngx_cpymem(p, prefix->data, prefix->len);
    }

    p = ngx_cpymem(p, src.data, src.len);
    *p = '\0';

    key->data = start;
    key->len = p - start;

    return NGX_OK;
}


ngx_int_t
ngx_cms_redis_command(ngx_pool_t *pool, ngx_cms_redis_handler_pt handler,
    void *data, const char *fmt, ...)
{
    int       len;
    char     *cmd;
    va_list   args;

    va_start(args, fmt);
    len = redisvFormatCommand(&cmd, fmt, args);
    va_end(args);

    if (len <= 0) {
        return NGX_ERROR;
    }

    return ngx_cms_redis_submit(NULL, pool, handler, data, cmd, len, NULL);
}


ngx_int_t
ngx_cms_redis_command_argv(ngx_pool_t *pool, ngx_cms_redis_handler_pt handler,
    void *data, ngx_uint_t argc, ngx_str_t *argv)
{
    int   len;
    char *cmd;

    if (argc == 0) {
        return NGX_ERROR;
    }

    len = ngx_cms_redis_format_argv(&cmd, argc, argv, NULL, 0,
                                    ngx_cycle->log);
    if (len <= 0) {
        return NGX_ERROR;
    }

    return ngx_cms_redis_submit(NULL, pool, handler, data, cmd, len, NULL);
}


ngx_int_t
ngx_cms_redis_script_call(ngx_cms_redis_script_t *script, ngx_pool_t *pool,
    ngx_cms_redis_handler_pt handler, void *data, ngx_uint_t nkeys,
    ngx_uint_t argc, ngx_str_t *argv)
{
    int         len;
    char       *cmd;
    u_char      buf[NGX_INT_T_LEN];
    ngx_str_t  *all;
    ngx_uint_t  i;

    if (script == NULL || nkeys > argc) {
        return NGX_ERROR;
    }

    /* EVALSHA <sha1> <nkeys> argv... */

    all = ngx_alloc((argc + 2) * sizeof(ngx_str_t), ngx_cycle->log);
    if (all == NULL) {
        return NGX_ERROR;
    }

    all[0].data = script->sha1;
    all[0].len = 40;
    all[1].data = buf;
    all[1].len = ngx_sprintf(buf, "%ui", nkeys) - buf;

    for (i = 0; i < argc; i++) {
        all[i + 2] = argv[i];
    }

    len = ngx_cms_redis_format_argv(&cmd, argc + 2, all, "EVALSHA", 7,
                                    ngx_cycle->log);
    ngx_free(all);

    if (len <= 0) {
        return NGX_ERROR;
    }

    return ngx_cms_redis_submit(NULL, pool, handler, data, cmd, len, script);
}


/* the connection the stream's batches go on (see init_worker) */

static ngx_cms_redis_conn_t *
ngx_cms_redis_stream_conn(void)
{
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    return w->conf->stream_replicas ? &w->stream : &w->cmd;
}


ngx_uint_t
ngx_cms_redis_stream_conn_ready(void)
{
    return ngx_cms_redis_worker.running
           && ngx_cms_redis_stream_conn()->state == NGX_CMS_REDIS_READY;
}


void
ngx_cms_redis_stream_conn_watch(void (*ready)(void))
{
    ngx_cms_redis_worker.stream_ready = ready;
}


/* a script call already in RESP (the stream's batches); cmd: ngx_alloc() */

ngx_int_t
ngx_cms_redis_script_submit(ngx_cms_redis_script_t *script,
    ngx_cms_redis_handler_pt handler, void *data, char *cmd, size_t len)
{
    if (!ngx_cms_redis_worker.running) {
        ngx_free(cmd);
        return NGX_DECLINED;
    }

    return ngx_cms_redis_submit(ngx_cms_redis_stream_conn(), NULL, handler,
                                data, cmd, (int) len, script);
}


/*
 * WAIT <replicas> <timeout>, right behind a batch on the same
 * connection: it answers how many replicas have every write this
 * connection made so far.
 */

ngx_int_t
ngx_cms_redis_wait_submit(ngx_uint_t replicas, ngx_msec_t timeout,
    ngx_cms_redis_handler_pt handler, void *data)
{
    int    len;
    char  *cmd;

    if (!ngx_cms_redis_worker.running) {
        return NGX_DECLINED;
    }

    len = redisFormatCommand(&cmd, "WAIT %llu %llu",
                             (unsigned long long) replicas,
                             (unsigned long long) timeout);
    if (len <= 0) {
        return NGX_ERROR;
    }

    return ngx_cms_redis_submit(ngx_cms_redis_stream_conn(), NULL, handler,
                                data, cmd, len, NULL);
}


ngx_int_t
ngx_cms_redis_publish(ngx_pool_t *pool, ngx_str_t *channel,
    ngx_str_t *message, ngx_cms_redis_handler_pt handler, void *data)
{
    int         len;
    char       *cmd;
    u_char     *p;
    ngx_str_t   argv[2];
    ngx_str_t  *prefix;

    if (!ngx_cms_redis_worker.running) {
        return NGX_DECLINED;
    }

    prefix = &ngx_cms_redis_worker.conf->prefix;

    p = ngx_alloc(prefix->len + channel->len, ngx_cycle->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv[0].data = p;
    argv[0].len = ngx_cpymem(ngx_cpymem(p, prefix->data, prefix->len),
                             channel->data, channel->len)
                  - p;
    argv[1] = *message;

    len = ngx_cms_redis_format_argv(&cmd, 2, argv, "PUBLISH", 7,
                                    ngx_cycle->log);
    ngx_free(p);

    if (len <= 0) {
        return NGX_ERROR;
    }

    return ngx_cms_redis_submit(NULL, pool, handler, data, cmd, len, NULL);
}


ngx_int_t
ngx_cms_redis_subscribe(ngx_str_t *channel, ngx_cms_redis_message_pt handler,
    void *data)
{
    ngx_cms_redis_sub_t  *sub;

    if (ngx_cms_redis_conf() == NULL || ngx_cms_redis_worker.exiting) {
        return NGX_DECLINED;
    }

    if (handler == NULL || channel->len == 0) {
        return NGX_ERROR;
    }

    sub = ngx_alloc(sizeof(ngx_cms_redis_sub_t) + channel->len,
                    ngx_cycle->log);
    if (sub == NULL) {
        return NGX_ERROR;
    }

    sub->name.data = (u_char *) (sub + 1);
    sub->name.len = channel->len;
    ngx_memcpy(sub->name.data, channel->data, channel->len);

    sub->handler = handler;
    sub->data = data;

    ngx_cms_redis_lists();
    ngx_queue_insert_tail(&ngx_cms_redis_worker.subs, &sub->queue);

    ngx_cms_redis_sub_send(sub);

    return NGX_OK;
}


ngx_int_t
ngx_cms_redis_watch(ngx_cms_redis_watch_pt handler, void *data)
{
    ngx_cms_redis_watcher_t  *wt;

    if (ngx_cms_redis_conf() == NULL || ngx_cms_redis_worker.exiting) {
        return NGX_DECLINED;
    }

    wt = ngx_alloc(sizeof(ngx_cms_redis_watcher_t), ngx_cycle->log);
    if (wt == NULL) {
        return NGX_ERROR;
    }

    wt->handler = handler;
    wt->data = data;

    ngx_cms_redis_lists();
    ngx_queue_insert_tail(&ngx_cms_redis_worker.watchers, &wt->queue);

    return NGX_OK;
}


/* takes cmd (hiredis-allocated); the op keeps it for a script's EVAL */

/* conn NULL: the command connection */

static ngx_int_t
ngx_cms_redis_submit(ngx_cms_redis_conn_t *conn, ngx_pool_t *pool,
    ngx_cms_redis_handler_pt handler, void *data, char *cmd, int len,
    ngx_cms_redis_script_t *script)
{
    ngx_cms_redis_op_t      *op;
    ngx_cms_redis_worker_t  *w;

    w = &ngx_cms_redis_worker;

    if (!w->running) {
        /* not a worker, no Redis, not started yet, or gone */
        redisFreeCommand(cmd);
        return NGX_DECLINED;
    }

    if (!ngx_cms_redis_allowed(cmd, len)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "cms redis: (P)SUBSCRIBE, UNSUBSCRIBE and MONITOR are "
                      "not allowed on the command connection");
        redisFreeCommand(cmd);
        return NGX_ERROR;
    }

    op = ngx_cms_redis_op_create(pool, handler, data);
    if (op == NULL) {
        redisFreeCommand(cmd);
        return NGX_ERROR;
    }

    if (w->exiting) {
        redisFreeCommand(cmd);
        ngx_cms_redis_op_fail(op, "worker exiting");
        return NGX_OK;
    }

    if (conn == NULL) {
        conn = &w->cmd;
    }

    if (script) {
        op->script = script;
        op->cmd = cmd;
        op->len = len;

        ngx_cms_redis_conn_send(conn, op, cmd, len);
        return NGX_OK;
    }

    ngx_cms_redis_conn_send(conn, op, cmd, len);
    redisFreeCommand(cmd);

    return NGX_OK;
}


/*
 * These would turn the command connection into a subscriber (hiredis
 * then routes every reply differently) or a monitor.
 */

static ngx_uint_t
ngx_cms_redis_allowed(char *cmd, size_t len)
{
    char        *p, *end;
    size_t       n;
    ngx_uint_t   i;

    static const char  *denied[] = {
        "subscribe", "psubscribe", "ssubscribe", "unsubscribe",
        "punsubscribe", "sunsubscribe", "monitor", NULL
    };

    /* *<n>\r\n$<len>\r\n<name>\r\n */

    end = cmd + len;

    p = (char *) ngx_strlchr((u_char *) cmd, (u_char *) end, '$');

    if (p == NULL) {
        return 0;
    }

    n = 0;

    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
    }

    p += 2;

    if (p + n > end) {
        return 0;
    }

    for (i = 0; denied[i]; i++) {
        if (ngx_strlen(denied[i]) == n
            && ngx_strncasecmp((u_char *) p, (u_char *) denied[i], n) == 0)
        {
            return 0;
        }
    }

    return 1;
}


/*
 * RESP, written here rather than by redisFormatCommandArgv(), which
 * formats every argument's header with sprintf().  The result is freed
 * with redisFreeCommand(), that is free().
 */

static ngx_int_t
ngx_cms_redis_format_argv(char **cmd, ngx_uint_t argc, ngx_str_t *argv,
    const char *first, size_t first_len, ngx_log_t *log)
{
    u_char      *p, *start;
    size_t       len;
    ngx_uint_t   i, n;

    n = argc + (first ? 1 : 0);

    /*
     * "*<n>\r\n", then "$<len>\r\n<data>\r\n" per argument, and a NUL
     * as hiredis' own formatter leaves: its async send peeks at the byte
     * after the command's name, one past the end for a one-word command
     */

    len = 1 + NGX_INT_T_LEN + 2 + n * NGX_CMS_REDIS_BULK + first_len + 1;

    for (i = 0; i < argc; i++) {
        len += argv[i].len;
    }

    if (len > NGX_MAX_INT32_VALUE) {
        return NGX_ERROR;
    }

    start = ngx_alloc(len, log);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;
    *p++ = '*';
    p = ngx_cms_redis_uint(p, n);
    *p++ = CR; *p++ = LF;

    if (first) {
        p = ngx_cms_redis_bulk(p, first, first_len);
    }

    for (i = 0; i < argc; i++) {
        p = ngx_cms_redis_bulk(p, argv[i].data, argv[i].len);
    }

    *p = '\0';
    *cmd = (char *) start;

    return p - start;
}


/* a decimal number, for the per-record paths (no ngx_sprintf() there) */

u_char *
ngx_cms_redis_uint(u_char *p, uint64_t n)
{
    u_char   digits[NGX_INT64_LEN], *d;

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
}


/* a RESP bulk string: "$" length CRLF data CRLF */

u_char *
ngx_cms_redis_bulk(u_char *p, const void *data, size_t len)
{
    *p++ = '$';
    p = ngx_cms_redis_uint(p, len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, data, len);
    *p++ = CR; *p++ = LF;

    return p;
}
