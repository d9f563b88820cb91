
/*
 * ngx_cms Redis client: finding the master through Redis Sentinel.
 *
 * hiredis 0.14 knows nothing of Sentinel, so this is one more async
 * connection, to one Sentinel at a time (the next one after a failure):
 *
 *   [AUTH], SENTINEL get-master-addr-by-name <name>   (the handshake)
 *   SUBSCRIBE +switch-master                           (then, for ever)
 *
 * The answer tells the data connections where to go; a +switch-master
 * message for our master moves them at once.  A data connection that is
 * lost asks again: the Sentinel connection is closed and reopened, which
 * repeats the query (a subscribed connection cannot send it).  The data
 * connections check ROLE on connect, so a stale answer (an old master
 * that came back as a replica) is a failed connection, not a silent one,
 * and a READONLY error on a write drops the connection the same way.
 * The keep-alive of this connection is a repeated SUBSCRIBE to
 * +switch-master.
 */


#include "ngx_cms_redis_int.h"


typedef struct {
    ngx_cms_redis_conn_t        conn;
    ngx_cms_redis_main_conf_t  *conf;
    ngx_uint_t                  index;       /* the Sentinel in use */
    ngx_cms_redis_addr_t        master;
    ngx_uint_t                  known;
    ngx_cms_redis_addr_t        answer;
    ngx_uint_t                  switches;
    ngx_uint_t                  running;

    /* what the client registered: the master is known; it moved */
    void                      (*found)(void);
    void                      (*switched)(void);
} ngx_cms_redis_sentinel_t;


static void ngx_cms_redis_sentinel_handshake(ngx_cms_redis_conn_t *conn);
static ngx_int_t ngx_cms_redis_sentinel_check(ngx_cms_redis_conn_t *conn,
    redisReply *reply);
static void ngx_cms_redis_sentinel_ready(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_sentinel_lost(ngx_cms_redis_conn_t *conn);
static void ngx_cms_redis_sentinel_message(ngx_cms_redis_conn_t *conn,
    ngx_str_t *channel, ngx_str_t *message);
static ngx_int_t ngx_cms_redis_sentinel_addr(ngx_cms_redis_addr_t *addr,
    u_char *host, size_t host_len, u_char *port, size_t port_len);
static void ngx_cms_redis_sentinel_use(ngx_cms_redis_sentinel_t *s,
    ngx_uint_t index);


static ngx_cms_redis_sentinel_t  ngx_cms_redis_sentinel;

static ngx_str_t  ngx_cms_redis_switch_master = ngx_string("+switch-master");


ngx_int_t
ngx_cms_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_cms_redis_main_conf_t *rmcf, void (*found)(void),
    void (*switched)(void))
{
    ngx_cms_redis_conn_t      *conn;
    ngx_cms_redis_sentinel_t  *s;

    s = &ngx_cms_redis_sentinel;

    ngx_memzero(s, sizeof(ngx_cms_redis_sentinel_t));

    s->conf = rmcf;
    s->found = found;
    s->switched = switched;

    conn = &s->conn;
    ngx_cms_redis_conn_init(conn, "sentinel", cycle->log);

    conn->user = rmcf->sentinel_user;
    conn->password = rmcf->sentinel_password;
    conn->db = -1;
    conn->connect_timeout = rmcf->connect_timeout;
    conn->command_timeout = rmcf->command_timeout;
    conn->ping_interval = rmcf->ping_interval;
    conn->ping_subscribe = 1;
    conn->keepalive = ngx_cms_redis_switch_master;

    conn->send_handshake = ngx_cms_redis_sentinel_handshake;
    conn->on_ready = ngx_cms_redis_sentinel_ready;
    conn->on_lost = ngx_cms_redis_sentinel_lost;
    conn->on_message = ngx_cms_redis_sentinel_message;

    /* workers do not all start with the same Sentinel */
    ngx_cms_redis_sentinel_use(s, ngx_worker % rmcf->sentinels->nelts);

    s->running = 1;

    ngx_cms_redis_conn_connect(conn);

    return NGX_OK;
}


void
ngx_cms_redis_sentinel_exit(void)
{
    if (!ngx_cms_redis_sentinel.running) {
        return;
    }

    ngx_cms_redis_conn_stop(&ngx_cms_redis_sentinel.conn);
    ngx_cms_redis_sentinel.running = 0;
}


ngx_cms_redis_addr_t *
ngx_cms_redis_sentinel_master(void)
{
    return ngx_cms_redis_sentinel.known ? &ngx_cms_redis_sentinel.master
                                        : NULL;
}


/* a data connection was lost: ask again where the master is */

void
ngx_cms_redis_sentinel_refresh(void)
{
    ngx_cms_redis_conn_t  *conn;

    if (!ngx_cms_redis_sentinel.running) {
        return;
    }

    conn = &ngx_cms_redis_sentinel.conn;

    switch (conn->state) {

    case NGX_CMS_REDIS_READY:
        ngx_cms_redis_conn_set_reason(conn, "asking again for the master");
        ngx_cms_redis_conn_close(conn, NULL, 1);
        break;

    case NGX_CMS_REDIS_DOWN:
        if (!conn->reconnect_ev.timer_set) {
            ngx_cms_redis_conn_connect(conn);
        }

        break;

    default:
        /* an answer is on its way */
        break;
    }
}


static void
ngx_cms_redis_sentinel_use(ngx_cms_redis_sentinel_t *s, ngx_uint_t index)
{
    ngx_cms_redis_addr_t  *addrs;

    addrs = s->conf->sentinels->elts;

    s->index = index;
    s->conn.addr = addrs[index];
    s->conn.addr.text.data = s->conn.addr.text_data;
}


static void
ngx_cms_redis_sentinel_handshake(ngx_cms_redis_conn_t *conn)
{
    size_t       argvlen[3];
    const char  *argv[3];

    ngx_cms_redis_conn_auth(conn);

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) ngx_cms_redis_sentinel.conf->master_name.data;
    argvlen[2] = ngx_cms_redis_sentinel.conf->master_name.len;

    ngx_cms_redis_conn_handshake(conn, "SENTINEL get-master-addr-by-name",
                                 ngx_cms_redis_sentinel_check, 3, argv,
                                 argvlen);
}


static ngx_int_t
ngx_cms_redis_sentinel_check(ngx_cms_redis_conn_t *conn, redisReply *reply)
{
    redisReply  **e;

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_cms_redis_conn_set_reason(conn,
                              "the sentinel does not know master \"%V\"",
                              &ngx_cms_redis_sentinel.conf->master_name);
        return NGX_ERROR;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || e[0]->type != REDIS_REPLY_STRING
        || e[1]->type != REDIS_REPLY_STRING
        || ngx_cms_redis_sentinel_addr(&ngx_cms_redis_sentinel.answer,
                                       (u_char *) e[0]->str, e[0]->len,
                                       (u_char *) e[1]->str, e[1]->len)
           != NGX_OK)
    {
        ngx_cms_redis_conn_set_reason(conn,
                              "unusable answer for master \"%V\" (an IPv4 "
                              "address and a port are needed)",
                              &ngx_cms_redis_sentinel.conf->master_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_cms_redis_sentinel_ready(ngx_cms_redis_conn_t *conn)
{
    ngx_uint_t                 changed;
    ngx_cms_redis_sentinel_t  *s;

    s = &ngx_cms_redis_sentinel;

    changed = !s->known
              || s->answer.port != s->master.port
              || ngx_strcmp(s->answer.host, s->master.host) != 0;

    ngx_cms_redis_conn_subscribe(conn, &ngx_cms_redis_switch_master);

    if (!changed) {
        ngx_cms_redis_sentinel.found();
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, conn->connect_ev.log, 0,
                  "cms redis: sentinel %V: master \"%V\" is %V",
                  &conn->addr.text, &s->conf->master_name, &s->answer.text);

    if (s->known) {
        s->switches++;
    }

    s->master = s->answer;
    s->master.text.data = s->master.text_data;
    s->known = 1;

    ngx_cms_redis_sentinel.switched();
}


static void
ngx_cms_redis_sentinel_lost(ngx_cms_redis_conn_t *conn)
{
    ngx_cms_redis_sentinel_t  *s;

    s = &ngx_cms_redis_sentinel;

    if (!conn->quiet && s->conf->sentinels->nelts > 1) {
        ngx_cms_redis_sentinel_use(s,
                                   (s->index + 1) % s->conf->sentinels->nelts);
    }
}


/* "+switch-master": <name> <old ip> <old port> <new ip> <new port> */

static void
ngx_cms_redis_sentinel_message(ngx_cms_redis_conn_t *conn,
    ngx_str_t *channel, ngx_str_t *message)
{
    u_char                    *p, *end, *f[5];
    size_t                     l[5];
    ngx_uint_t                 n;
    ngx_cms_redis_addr_t       addr;
    ngx_cms_redis_sentinel_t  *s;

    s = &ngx_cms_redis_sentinel;

    if (channel->len != ngx_cms_redis_switch_master.len
        || ngx_memcmp(channel->data, ngx_cms_redis_switch_master.data,
                      channel->len)
           != 0)
    {
        return;
    }

    p = message->data;
    end = p + message->len;

    for (n = 0; n < 5 && p < end; n++) {
        f[n] = p;

        while (p < end && *p != ' ') {
            p++;
        }

        l[n] = p - f[n];

        while (p < end && *p == ' ') {
            p++;
        }
    }

    if (n != 5
        || l[0] != s->conf->master_name.len
        || ngx_memcmp(f[0], s->conf->master_name.data, l[0]) != 0)
    {
        return;
    }

    if (ngx_cms_redis_sentinel_addr(&addr, f[3], l[3], f[4], l[4])
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, conn->connect_ev.log, 0,
                      "cms redis: sentinel %V: unusable +switch-master "
                      "\"%V\"", &conn->addr.text, message);
        return;
    }

    if (s->known && addr.port == s->master.port
        && ngx_strcmp(addr.host, s->master.host) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, conn->connect_ev.log, 0,
                  "cms redis: sentinel %V: master \"%V\" switched to %V",
                  &conn->addr.text, &s->conf->master_name, &addr.text);

    s->master = addr;
    s->master.text.data = s->master.text_data;
    s->known = 1;
    s->switches++;

    ngx_cms_redis_sentinel.switched();
}


static ngx_int_t
ngx_cms_redis_sentinel_addr(ngx_cms_redis_addr_t *addr, u_char *host,
    size_t host_len, u_char *port, size_t port_len)
{
    ngx_int_t  n;

    if (host_len == 0 || host_len >= sizeof(addr->host)
        || ngx_inet_addr(host, host_len) == INADDR_NONE)
    {
        return NGX_ERROR;
    }

    n = ngx_atoi(port, port_len);
    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    ngx_memcpy(addr->host, host, host_len);
    addr->host[host_len] = '\0';
    addr->port = (int) n;
    addr->text.data = addr->text_data;
    addr->text.len = ngx_sprintf(addr->text_data, "%*s:%i", host_len, host,
                                 n)
                     - addr->text_data;

    return NGX_OK;
}


/* the data connections ask on connect: a demoted master is refused */

ngx_int_t
ngx_cms_redis_check_role(ngx_cms_redis_conn_t *conn, redisReply *reply)
{
    redisReply  *role;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_cms_redis_conn_set_reason(conn, "ROLE: unexpected reply");
        return NGX_ERROR;
    }

    role = reply->element[0];

    if (role->len != 6 || ngx_strncmp(role->str, "master", 6) != 0) {
        ngx_cms_redis_conn_set_reason(conn, "%V is a %*s, not the master",
                                      &conn->addr.text, role->len, role->str);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_cms_redis_sentinel_status(ngx_cms_json_t *j)
{
    ngx_cms_redis_conn_t      *conn;
    ngx_cms_redis_sentinel_t  *s;

    static const char  *states[] = {
        "down", "connecting", "connected", "closing"
    };

    s = &ngx_cms_redis_sentinel;

    if (!s->running) {
        ngx_cms_json_raw(j, "null", 4);
        return;
    }

    conn = &s->conn;

    ngx_cms_json_printf(j, "{\"master_name\":");
    ngx_cms_json_string(j, s->conf->master_name.data,
                        s->conf->master_name.len);
    ngx_cms_json_printf(j, ",\"master\":");

    if (s->known) {
        ngx_cms_json_string(j, s->master.text.data,
                            s->master.text.len);
    } else {
        ngx_cms_json_printf(j, "null");
    }

    ngx_cms_json_printf(j, ",\"sentinel\":");
    ngx_cms_json_string(j, conn->addr.text.data,
                        conn->addr.text.len);
    ngx_cms_json_printf(j,
                        ",\"state\":\"%s\",\"since\":%M,\"switches\":%ui"
                        ",\"last_error\":",
                        states[conn->state], conn->since, s->switches);

    if (conn->error_len) {
        ngx_cms_json_string(j, conn->error, conn->error_len);
    } else {
        ngx_cms_json_printf(j, "null");
    }

    ngx_cms_json_raw(j, "}", 1);
}
