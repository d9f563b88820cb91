
/*
 * An example ngx_cms plugin, built out of tree as its own dynamic module
 * and loaded after ngx_http_cms_module.so:
 *
 *     load_module modules/ngx_http_cms_module.so;
 *     load_module modules/ngx_cms_example_module.so;
 *
 * It uses nothing of ngx_cms but <ngx_cms_plugin.h>; the functions it
 * calls are found in the core's module, which nginx loaded RTLD_GLOBAL.
 *
 * Three plugin tables, to show the core's rules at work:
 *
 *   "example"    (priority 15) counts calls per operation (per worker)
 *                and answers with X-Cms-Example: <operation> and
 *                X-Cms-Example-Count: <n>; denies a request carrying
 *                "X-Example-Deny: yes"; logs every request, denied ones
 *                included; logs every event.
 *   "example_a"  (priority 20) and "example_b" (priority 10) record the
 *                order their hooks ran in, into X-Cms-Order and the log:
 *                requests by priority, responses and logs in reverse.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_cms_plugin.h>


#define NGX_CMS_EXAMPLE_MAX_OPS    64
#define NGX_CMS_EXAMPLE_ORDER_LEN  128


typedef struct {
    ngx_flag_t                  announce;
} ngx_cms_example_main_conf_t;


typedef struct {
    ngx_str_t                   operation;
    ngx_uint_t                  calls;
} ngx_cms_example_count_t;


/* shared by example_a and example_b, in example_a's plugin_ctx slot */

typedef struct {
    u_char                      order[NGX_CMS_EXAMPLE_ORDER_LEN];
    size_t                      len;
    ngx_table_elt_t            *header;
} ngx_cms_example_order_t;


static ngx_int_t ngx_cms_example_request(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_example_response(ngx_cms_call_t *call);
static void ngx_cms_example_log(ngx_cms_call_t *call);
static void ngx_cms_example_event(ngx_cms_event_t *ev);
static ngx_uint_t ngx_cms_example_count(ngx_str_t *operation);
static ngx_table_elt_t *ngx_cms_example_add_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);

static ngx_int_t ngx_cms_example_a_request(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_example_b_request(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_example_a_response(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_example_b_response(ngx_cms_call_t *call);
static void ngx_cms_example_a_log(ngx_cms_call_t *call);
static void ngx_cms_example_b_log(ngx_cms_call_t *call);
static ngx_cms_example_order_t *ngx_cms_example_order(ngx_cms_call_t *call,
    const char *step);
static ngx_int_t ngx_cms_example_order_header(ngx_cms_call_t *call,
    const char *step);

static void *ngx_cms_example_create_main_conf(ngx_conf_t *cf);
static char *ngx_cms_example_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_cms_example_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_example_init_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_cms_example_commands[] = {

    { ngx_string("cms_example_announce"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_cms_example_main_conf_t, announce),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_example_module_ctx = {
    ngx_cms_example_preconfiguration,      /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_cms_example_create_main_conf,      /* create main configuration */
    ngx_cms_example_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_cms_example_module = {
    NGX_MODULE_V1,
    &ngx_cms_example_module_ctx,           /* module context */
    ngx_cms_example_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_cms_example_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_cms_plugin_t  ngx_cms_example_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("example"),
    15,
    ngx_cms_example_request,
    ngx_cms_example_response,
    ngx_cms_example_log,
    ngx_cms_example_event,
    0,
    NULL
};


static ngx_cms_plugin_t  ngx_cms_example_a_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("example_a"),
    20,
    ngx_cms_example_a_request,
    ngx_cms_example_a_response,
    ngx_cms_example_a_log,
    NULL,
    0,
    NULL
};


static ngx_cms_plugin_t  ngx_cms_example_b_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("example_b"),
    10,
    ngx_cms_example_b_request,
    ngx_cms_example_b_response,
    ngx_cms_example_b_log,
    NULL,
    0,
    NULL
};


/* calls per operation, in this worker */
static ngx_array_t  *ngx_cms_example_counts;

static ngx_str_t  ngx_cms_example_deny_rule = ngx_string("example-deny-header");
static ngx_str_t  ngx_cms_example_deny_reason =
    ngx_string("X-Example-Deny header present");


/* "example" */

static ngx_int_t
ngx_cms_example_request(ngx_cms_call_t *call)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_cms_example_count(ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION));

    part = &ngx_cms_call_request(call)->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("X-Example-Deny") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Example-Deny",
                               sizeof("X-Example-Deny") - 1) == 0
            && h[i].value.len == 3
            && ngx_strncasecmp(h[i].value.data, (u_char *) "yes", 3) == 0)
        {
            ngx_cms_deny(call, NGX_HTTP_FORBIDDEN, "exampleDenied",
                         &ngx_cms_example_deny_rule,
                         &ngx_cms_example_deny_reason);
            return NGX_CMS_DENY;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_example_response(ngx_cms_call_t *call)
{
    u_char                   *p;
    ngx_str_t                 count, *op;
    ngx_uint_t                i, n;
    ngx_http_request_t       *r;
    ngx_cms_example_count_t  *c;

    r = ngx_cms_call_request(call);
    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);

    if (ngx_cms_example_add_header(r, "X-Cms-Example", op) == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    if (ngx_cms_example_counts) {
        c = ngx_cms_example_counts->elts;

        for (i = 0; i < ngx_cms_example_counts->nelts; i++) {
            if (c[i].operation.len == op->len
                && ngx_strncmp(c[i].operation.data, op->data, op->len) == 0)
            {
                n = c[i].calls;
                break;
            }
        }
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    count.data = p;
    count.len = ngx_sprintf(p, "%ui", n) - p;

    if (ngx_cms_example_add_header(r, "X-Cms-Example-Count", &count) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every request of the location, denied, failed and aborted ones too */

static void
ngx_cms_example_log(ngx_cms_call_t *call)
{
    const char  *verdict;

    switch (ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT)) {

    case NGX_CMS_VERDICT_DENY:
        verdict = "deny";
        break;

    case NGX_CMS_VERDICT_ALLOW:
        verdict = "allow";
        break;

    default:
        verdict = "pass";
    }

    ngx_log_error(NGX_LOG_NOTICE,
                  ngx_cms_call_request(call)->connection->log, 0,
                  "cms example: log %V status=%ui verdict=%s rule=\"%V\" "
                  "plugin=\"%V\" bridge=\"%V\"",
                  ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION),
                  ngx_cms_call_num(call, NGX_CMS_CALL_STATUS), verdict,
                  ngx_cms_call_str(call, NGX_CMS_CALL_RULE),
                  ngx_cms_call_str(call, NGX_CMS_CALL_PLUGIN),
                  ngx_cms_call_str(call, NGX_CMS_CALL_BRIDGE));
}


static void
ngx_cms_example_event(ngx_cms_event_t *ev)
{
    ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                  "cms example: event %V subject=%V detail=%V",
                  &ev->type, &ev->subject, &ev->detail);
}


/* returns the calls so far, this one included; 0 if not counted */

static ngx_uint_t
ngx_cms_example_count(ngx_str_t *operation)
{
    ngx_uint_t                i;
    ngx_cms_example_count_t  *c;

    if (ngx_cms_example_counts == NULL) {
        return 0;
    }

    c = ngx_cms_example_counts->elts;

    for (i = 0; i < ngx_cms_example_counts->nelts; i++) {
        if (c[i].operation.len == operation->len
            && ngx_strncmp(c[i].operation.data, operation->data,
                           operation->len) == 0)
        {
            return ++c[i].calls;
        }
    }

    /* bounded: the set of operations is small, but not ours to trust */

    if (ngx_cms_example_counts->nelts == NGX_CMS_EXAMPLE_MAX_OPS) {
        return 0;
    }

    c = ngx_array_push(ngx_cms_example_counts);
    if (c == NULL) {
        return 0;
    }

    /* the call's strings live as long as the request: keep a copy */

    c->operation.data = ngx_pstrdup(ngx_cycle->pool, operation);
    if (c->operation.data == NULL) {
        ngx_cms_example_counts->nelts--;
        return 0;
    }

    c->operation.len = operation->len;
    c->calls = 1;

    return 1;
}


static ngx_table_elt_t *
ngx_cms_example_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
    h->lowcase_key = NULL;

    return h;
}


/* "example_a" and "example_b": the order hooks run in */

static ngx_int_t
ngx_cms_example_a_request(ngx_cms_call_t *call)
{
    return ngx_cms_example_order(call, "req:a") ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_cms_example_b_request(ngx_cms_call_t *call)
{
    return ngx_cms_example_order(call, "req:b") ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_cms_example_a_response(ngx_cms_call_t *call)
{
    return ngx_cms_example_order_header(call, "resp:a");
}


static ngx_int_t
ngx_cms_example_b_response(ngx_cms_call_t *call)
{
    return ngx_cms_example_order_header(call, "resp:b");
}


static void
ngx_cms_example_a_log(ngx_cms_call_t *call)
{
    ngx_cms_example_order_t  *o;

    o = ngx_cms_example_order(call, "log:a");
    if (o == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE,
                  ngx_cms_call_request(call)->connection->log, 0,
                  "cms example_a: %V order %*s",
                  ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION),
                  o->len, o->order);
}


static void
ngx_cms_example_b_log(ngx_cms_call_t *call)
{
    ngx_cms_example_order_t  *o;

    o = ngx_cms_example_order(call, "log:b");
    if (o == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE,
                  ngx_cms_call_request(call)->connection->log, 0,
                  "cms example_b: %V order %*s",
                  ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION),
                  o->len, o->order);
}


/* appends a step to the request's order, creating it on the first step */

static ngx_cms_example_order_t *
ngx_cms_example_order(ngx_cms_call_t *call, const char *step)
{
    void                    **ctx;
    size_t                    len;
    ngx_cms_example_order_t  *o;

    ctx = ngx_cms_call_ctx(call, &ngx_cms_example_a_plugin);
    o = *ctx;

    if (o == NULL) {
        o = ngx_pcalloc(ngx_cms_call_request(call)->pool,
                        sizeof(ngx_cms_example_order_t));
        if (o == NULL) {
            return NULL;
        }

        *ctx = o;
    }

    len = ngx_strlen(step);

    if (o->len + 1 + len > NGX_CMS_EXAMPLE_ORDER_LEN) {
        return o;
    }

    if (o->len) {
        o->order[o->len++] = ',';
    }

    o->len = ngx_cpymem(o->order + o->len, step, len) - o->order;

    return o;
}


/*
 * Response hooks run before the headers go: the header holds the order
 * buffer itself and follows it as the later hook appends.
 */

static ngx_int_t
ngx_cms_example_order_header(ngx_cms_call_t *call, const char *step)
{
    ngx_str_t                 value;
    ngx_cms_example_order_t  *o;

    o = ngx_cms_example_order(call, step);
    if (o == NULL) {
        return NGX_ERROR;
    }

    if (o->header == NULL) {
        value.data = o->order;
        value.len = o->len;

        o->header = ngx_cms_example_add_header(ngx_cms_call_request(call),
                                               "X-Cms-Order", &value);
        if (o->header == NULL) {
            return NGX_ERROR;
        }
    }

    o->header->value.len = o->len;

    return NGX_OK;
}


/* configuration and registration */

static void *
ngx_cms_example_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_example_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_example_main_conf_t));
    if (emcf == NULL) {
        return NULL;
    }

    emcf->announce = NGX_CONF_UNSET;

    return emcf;
}


static char *
ngx_cms_example_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_cms_example_main_conf_t  *emcf = conf;

    ngx_conf_init_value(emcf->announce, 0);

    return NGX_CONF_OK;
}


/*
 * Preconfiguration runs after every http module's main configuration
 * was created, ngx_cms's registry included, and before any directive of
 * the http block is read: "cms_plugins example" finds us registered.
 */

static ngx_int_t
ngx_cms_example_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_cms_plugin_register(cf, &ngx_cms_example_plugin) != NGX_OK
        || ngx_cms_plugin_register(cf, &ngx_cms_example_a_plugin) != NGX_OK
        || ngx_cms_plugin_register(cf, &ngx_cms_example_b_plugin) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_example_init_process(ngx_cycle_t *cycle)
{
    u_char                       *p;
    ngx_cms_event_t               ev;
    ngx_cms_example_main_conf_t  *emcf;

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_cms_example_module);
    if (emcf == NULL) {
        /* no http{} block */
        return NGX_OK;
    }

    ngx_cms_example_counts = ngx_array_create(cycle->pool, 16,
                                              sizeof(ngx_cms_example_count_t));
    if (ngx_cms_example_counts == NULL) {
        return NGX_ERROR;
    }

    if (!emcf->announce) {
        return NGX_OK;
    }

    /* an event of our own: every plugin's event hook hears it */

    p = ngx_pnalloc(cycle->pool, sizeof("{\"pid\":}") - 1 + NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ev, sizeof(ngx_cms_event_t));

    ngx_str_set(&ev.type, "example.start");
    ngx_str_set(&ev.subject, "worker");
    ev.detail.data = p;
    ev.detail.len = ngx_sprintf(p, "{\"pid\":%P}", ngx_pid) - p;
    ev.log = cycle->log;

    ngx_cms_event_emit(cycle, &ev);

    return NGX_OK;
}
