
/*
 * ngx_cms Redis client: a window on the C API for the tests.
 *
 *   location /redis/ { cms_redis_debug; }
 *
 *   GET /redis/cmd?a=SET&a=k&a=v[&detach=1]   a command, argv-style
 *   GET /redis/script?k=<key>&a=<arg>...      the cms_redis_debug_script
 *   GET /redis/publish?c=<channel>&m=<text>
 *   GET /redis/messages                       what the subscriptions of
 *                                             cms_redis_debug_subscribe got
 *
 * A command waits for its answer the way a plugin would: the request
 * holds itself (count++), watches for the client going away
 * (ngx_http_test_reading), and its command is bound to r->pool, so a
 * client that leaves orphans the command instead of leaving a dangling
 * pointer.  With detach=1 the request answers at once and its command
 * is orphaned by construction.
 *
 * This sends any command the client names: it is for test
 * configurations only, never for a listener others can reach.  So it is
 * a module of its own, built only by the test suite (make -C
 * t/redis_debug) and loaded after ngx_http_cms_module.so; the module
 * that ships has none of it.  It may use the Redis client's internal
 * header: it lives with the tests.
 *
 *   cms_redis_debug_subscribe <channel>;   (http)
 *   cms_redis_debug_script <lua>;          (http)
 */


#include "ngx_cms_redis_int.h"


typedef struct {
    ngx_array_t                *channels;   /* of ngx_str_t */
    ngx_cms_redis_script_t     *script;
} ngx_cms_redis_debug_main_conf_t;


static void *ngx_cms_redis_debug_create_main_conf(ngx_conf_t *cf);
static char *ngx_cms_redis_debug_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_redis_debug_subscribe(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_cms_redis_debug_script(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_cms_redis_debug_init(ngx_cycle_t *cycle);
static void ngx_cms_redis_debug_exit(ngx_cycle_t *cycle);


static ngx_command_t  ngx_cms_redis_debug_commands[] = {

    { ngx_string("cms_redis_debug"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_cms_redis_debug_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_debug_subscribe"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_cms_redis_debug_subscribe,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_redis_debug_script"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_cms_redis_debug_script,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_redis_debug_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_cms_redis_debug_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_cms_redis_debug_module = {
    NGX_MODULE_V1,
    &ngx_cms_redis_debug_module_ctx,       /* module context */
    ngx_cms_redis_debug_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_redis_debug_init,              /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_cms_redis_debug_exit,              /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_CMS_REDIS_DEBUG_ARGS      32
#define NGX_CMS_REDIS_DEBUG_MESSAGES  64


typedef struct {
    ngx_http_request_t         *request;
    ngx_uint_t                  detached;
} ngx_cms_redis_debug_ctx_t;


typedef struct {
    ngx_str_t                   a[NGX_CMS_REDIS_DEBUG_ARGS];
    ngx_uint_t                  na;
    ngx_str_t                   k[NGX_CMS_REDIS_DEBUG_ARGS];
    ngx_uint_t                  nk;
    ngx_str_t                   c;
    ngx_str_t                   m;
    ngx_uint_t                  detach;
} ngx_cms_redis_debug_args_t;


static ngx_int_t ngx_cms_redis_debug_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_redis_debug_args(ngx_http_request_t *r,
    ngx_cms_redis_debug_args_t *args);
static void ngx_cms_redis_debug_reply(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static u_char *ngx_cms_redis_debug_render(u_char *p, u_char *last,
    redisReply *reply, ngx_uint_t depth);
static ngx_int_t ngx_cms_redis_debug_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *text, size_t len);
static void ngx_cms_redis_debug_message(ngx_str_t *channel,
    ngx_str_t *message, void *data);


static u_char     *ngx_cms_redis_debug_messages[NGX_CMS_REDIS_DEBUG_MESSAGES];
static ngx_uint_t  ngx_cms_redis_debug_nmessages;


static void *
ngx_cms_redis_debug_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_cms_redis_debug_main_conf_t));
}


static char *
ngx_cms_redis_debug_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_redis_debug_handler;

    return NGX_CONF_OK;
}


static char *
ngx_cms_redis_debug_subscribe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_redis_debug_main_conf_t  *rmcf = conf;

    ngx_str_t  *value, *ch;

    if (rmcf->channels == NULL) {
        rmcf->channels = ngx_array_create(cf->pool, 2,
                                                sizeof(ngx_str_t));
        if (rmcf->channels == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    ch = ngx_array_push(rmcf->channels);
    if (ch == NULL) {
        return NGX_CONF_ERROR;
    }

    *ch = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_cms_redis_debug_script(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_redis_debug_main_conf_t  *rmcf = conf;

    ngx_str_t  *value;

    if (rmcf->script) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rmcf->script = ngx_cms_redis_script_add(cf, &value[1]);
    if (rmcf->script == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_redis_debug_init(ngx_cycle_t *cycle)
{
    ngx_str_t                        *ch;
    ngx_uint_t                        i;
    ngx_cms_redis_debug_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_cms_redis_debug_module);

    if (rmcf == NULL || rmcf->channels == NULL
        || ngx_cms_redis_worker.conf == NULL)
    {
        return NGX_OK;
    }

    ch = rmcf->channels->elts;

    for (i = 0; i < rmcf->channels->nelts; i++) {
        if (ngx_cms_redis_subscribe(&ch[i], ngx_cms_redis_debug_message,
                                    NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_cms_redis_debug_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CMS_REDIS_DEBUG_MESSAGES; i++) {
        if (ngx_cms_redis_debug_messages[i]) {
            ngx_free(ngx_cms_redis_debug_messages[i]);
            ngx_cms_redis_debug_messages[i] = NULL;
        }
    }
}


static void
ngx_cms_redis_debug_message(ngx_str_t *channel, ngx_str_t *message,
    void *data)
{
    u_char      *p, **slot;
    ngx_uint_t   n;

    n = ngx_cms_redis_debug_nmessages++ % NGX_CMS_REDIS_DEBUG_MESSAGES;
    slot = &ngx_cms_redis_debug_messages[n];

    if (*slot) {
        ngx_free(*slot);
    }

    *slot = ngx_alloc(channel->len + message->len + 3, ngx_cycle->log);
    if (*slot == NULL) {
        return;
    }

    p = ngx_sprintf(*slot, "%V %V\n", channel, message);
    *p = '\0';
}


static ngx_int_t
ngx_cms_redis_debug_handler(ngx_http_request_t *r)
{
    u_char                      *p, *last;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_str_t                    what;
    ngx_uint_t                   i, n;
    ngx_cms_redis_debug_ctx_t   *ctx;
    ngx_cms_redis_debug_args_t  *args;
    ngx_cms_redis_debug_main_conf_t  *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the last path segment says what */

    what.data = r->uri.data + r->uri.len;

    while (what.data > r->uri.data && what.data[-1] != '/') {
        what.data--;
    }

    what.len = r->uri.data + r->uri.len - what.data;

    if (what.len == 8 && ngx_strncmp(what.data, "messages", 8) == 0) {
        n = ngx_min(ngx_cms_redis_debug_nmessages,
                    NGX_CMS_REDIS_DEBUG_MESSAGES);
        size = 1;

        for (i = 0; i < n; i++) {
            if (ngx_cms_redis_debug_messages[i]) {
                size += ngx_strlen(ngx_cms_redis_debug_messages[i]);
            }
        }

        p = ngx_pnalloc(r->pool, size);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        last = p;

        /* oldest first */

        for (i = 0; i < n; i++) {
            u_char  *m;

            m = ngx_cms_redis_debug_messages[
                    (ngx_cms_redis_debug_nmessages - n + i)
                    % NGX_CMS_REDIS_DEBUG_MESSAGES];

            if (m) {
                last = ngx_cpymem(last, m, ngx_strlen(m));
            }
        }

        return ngx_cms_redis_debug_send(r, NGX_HTTP_OK, p, last - p);
    }

    args = ngx_pcalloc(r->pool, sizeof(ngx_cms_redis_debug_args_t));
    ctx = ngx_pcalloc(r->pool, sizeof(ngx_cms_redis_debug_ctx_t));

    if (args == NULL || ctx == NULL
        || ngx_cms_redis_debug_args(r, args) != NGX_OK)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    ctx->request = r;
    ctx->detached = args->detach;

    rmcf = ngx_http_get_module_main_conf(r, ngx_cms_redis_debug_module);

    if (what.len == 3 && ngx_strncmp(what.data, "cmd", 3) == 0
        && args->na)
    {
        rc = ngx_cms_redis_command_argv_r(r, ngx_cms_redis_debug_reply, ctx,
                                          args->na, args->a);

    } else if (what.len == 6 && ngx_strncmp(what.data, "script", 6) == 0
               && rmcf->script)
    {
        for (i = 0; i < args->na && args->nk + i < NGX_CMS_REDIS_DEBUG_ARGS;
             i++)
        {
            args->k[args->nk + i] = args->a[i];
        }

        rc = ngx_cms_redis_script_call(rmcf->script, r->pool,
                                       ngx_cms_redis_debug_reply, ctx,
                                       args->nk, args->nk + i, args->k);

    } else if (what.len == 7 && ngx_strncmp(what.data, "publish", 7) == 0
               && args->c.len)
    {
        rc = ngx_cms_redis_publish(r->pool, &args->c, &args->m,
                                   ngx_cms_redis_debug_reply, ctx);

    } else {
        return NGX_HTTP_NOT_FOUND;
    }

    if (rc != NGX_OK) {
        return ngx_cms_redis_debug_send(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        (u_char *) "(refused)\n", 10);
    }

    if (ctx->detached) {
        return ngx_cms_redis_debug_send(r, NGX_HTTP_OK,
                                        (u_char *) "(sent)\n", 7);
    }

    /* wait, as a plugin would; a client that leaves orphans the command */

    r->main->count++;
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


static void
ngx_cms_redis_debug_reply(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    ngx_cms_redis_debug_ctx_t  *ctx = data;

    u_char              *p, *last;
    size_t               size;
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ctx == NULL) {
        /* the request is gone: nothing of it may be touched */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "cms redis debug: orphaned reply");
        return;
    }

    if (ctx->detached) {
        return;
    }

    r = ctx->request;
    c = r->connection;

    size = 64 * 1024;

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    last = p + size;

    if (reply == NULL) {
        last = ngx_slprintf(p, last, "(failed) %V\n", error);
        rc = ngx_cms_redis_debug_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, p,
                                      last - p);

    } else {
        last = ngx_cms_redis_debug_render(p, last - 1, reply, 0);
        *last++ = LF;
        rc = ngx_cms_redis_debug_send(r, NGX_HTTP_OK, p, last - p);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static u_char *
ngx_cms_redis_debug_render(u_char *p, u_char *last, redisReply *reply,
    ngx_uint_t depth)
{
    size_t  i;

    switch (reply->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return ngx_slprintf(p, last, "%*s", reply->len, reply->str);

    case REDIS_REPLY_ERROR:
        return ngx_slprintf(p, last, "(error) %*s", reply->len, reply->str);

    case REDIS_REPLY_INTEGER:
        return ngx_slprintf(p, last, "(integer) %L", reply->integer);

    case REDIS_REPLY_NIL:
        return ngx_slprintf(p, last, "(nil)");

    case REDIS_REPLY_ARRAY:
        if (reply->elements == 0) {
            return ngx_slprintf(p, last, "(empty array)");
        }

        for (i = 0; i < reply->elements && depth < 8; i++) {
            if (i) {
                p = ngx_slprintf(p, last, "\n");
            }

            p = ngx_slprintf(p, last, "%*s%uz) ", 2 * depth, "                ",
                             i + 1);
            p = ngx_cms_redis_debug_render(p, last, reply->element[i],
                                           depth + 1);
        }

        return p;
    }

    return ngx_slprintf(p, last, "(unknown)");
}


static ngx_int_t
ngx_cms_redis_debug_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *text, size_t len)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = text;
    b->last = text + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* a=, k=, c=, m=, detach=1; values are URL-decoded */

static ngx_int_t
ngx_cms_redis_debug_args(ngx_http_request_t *r,
    ngx_cms_redis_debug_args_t *args)
{
    u_char     *p, *end, *amp, *eq, *dst, *src, *raw;
    ngx_str_t   name, value, *slot;

    p = r->args.data;
    end = p + r->args.len;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;
        value.len = 0;
        value.data = NULL;

        if (eq) {
            raw = ngx_pnalloc(r->pool, 2 * (amp - eq));
            if (raw == NULL) {
                return NGX_ERROR;
            }

            /* '+' is a space in a query string, "%2B" a plus */

            for (src = eq + 1, dst = raw; src < amp; src++) {
                *dst++ = (*src == '+') ? ' ' : *src;
            }

            value.data = raw + (amp - eq);
            dst = value.data;
            src = raw;
            ngx_unescape_uri(&dst, &src, amp - eq - 1, 0);
            value.len = dst - value.data;
        }

        slot = NULL;

        if (name.len == 1 && name.data[0] == 'a') {
            if (args->na < NGX_CMS_REDIS_DEBUG_ARGS) {
                slot = &args->a[args->na++];
            }

        } else if (name.len == 1 && name.data[0] == 'k') {
            if (args->nk < NGX_CMS_REDIS_DEBUG_ARGS / 2) {
                slot = &args->k[args->nk++];
            }

        } else if (name.len == 1 && name.data[0] == 'c') {
            slot = &args->c;

        } else if (name.len == 1 && name.data[0] == 'm') {
            slot = &args->m;

        } else if (name.len == 6 && ngx_strncmp(name.data, "detach", 6) == 0)
        {
            args->detach = (value.len == 1 && value.data[0] == '1');
        }

        if (slot) {
            *slot = value;
        }

        p = amp + 1;
    }

    return NGX_OK;
}
