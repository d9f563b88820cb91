
/*
 * ngx_cms metrics: the zone, the series table, what one call adds, the
 * events counted, and "cms_metrics;" (see ngx_cms_metrics.h).
 *
 *   location = /metrics { cms_metrics; allow 127.0.0.1; deny all; }
 *
 * The zone exists only when some location has cms_metrics: without it
 * the request path does nothing at all (one NULL test).
 */


#include "ngx_cms.h"
#include "ngx_cms_metrics.h"


#define NGX_CMS_METRICS_ZONE_SIZE  (2 * 1024 * 1024)
#define NGX_CMS_METRICS_KEY_LEN    224
#define NGX_CMS_METRICS_NBUCKETS   16
/* the buckets, the overflow (+Inf), the sum in microseconds */
#define NGX_CMS_METRICS_NVALUES    (NGX_CMS_METRICS_NBUCKETS + 2)
#define NGX_CMS_METRICS_PROBES     64
#define NGX_CMS_METRICS_SPIN       (1 << 16)

#define NGX_CMS_SERIES_FREE        0
#define NGX_CMS_SERIES_WRITING     1
#define NGX_CMS_SERIES_READY       2


typedef enum {
    NGX_CMS_F_REQUESTS = 0,
    NGX_CMS_F_DENIALS,
    NGX_CMS_F_ANSWERS,
    NGX_CMS_F_WOULD_DENY,
    NGX_CMS_F_PROXY_SECONDS,
    NGX_CMS_F_BRIDGE_SECONDS,
    NGX_CMS_F_FAILOVERS,
    NGX_CMS_F_FAILBACKS,
    NGX_CMS_F_MOVES,
    NGX_CMS_F_SLOT_EVENTS,
    NGX_CMS_F_N
} ngx_cms_metrics_family_e;


typedef struct {
    const char                *name;
    const char                *help;
    ngx_uint_t                 histogram;
} ngx_cms_metrics_family_t;


static ngx_cms_metrics_family_t  ngx_cms_metrics_families[] = {
    { "cms_api_requests_total",
      "API calls by operation, method class, status class, bridge, role", 0 },
    { "cms_denials_total", "API calls a plugin refused, by plugin and rule",
      0 },
    { "cms_proxy_answers_total",
      "API calls the proxy answered itself (no bridge answer), by reason", 0 },
    { "cms_policy_would_deny_total",
      "API calls a report-only policy rule would have refused", 0 },
    { "cms_proxy_added_seconds",
      "time the proxy added to an API call, by operation family", 1 },
    { "cms_bridge_seconds",
      "time spent waiting for bridges, by operation family "
      "(millisecond resolution, as nginx measures it)", 1 },
    { "cms_failovers_total",
      "changes of the active bridge away from the primary, by cause", 0 },
    { "cms_failbacks_total",
      "changes of the active bridge back to the primary, by cause", 0 },
    { "cms_moves_total", "participant moves, by outcome", 0 },
    { "cms_slot_events_total",
      "changes of the slot table, by action (checkout, checkin, stuck, "
      "reconciled: one reconciliation run, corrected, ...)", 0 }
};


/* upper bounds, in microseconds: 0.1 ms to 10 s */

static ngx_uint_t  ngx_cms_metrics_bounds[NGX_CMS_METRICS_NBUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000
};

static const char  *ngx_cms_metrics_le[NGX_CMS_METRICS_NBUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"
};


static struct {
    ngx_str_t   name;
    const char *help;
} ngx_cms_metrics_fixed[NGX_CMS_METRIC_NFIXED] = {
    { ngx_string("cms_redis_commands_sent_total"),
      "commands sent to Redis, by every worker" },
    { ngx_string("cms_redis_commands_failed_total"),
      "Redis commands that failed or got no answer" },
    { ngx_string("cms_redis_connects_total"),
      "connections to Redis established (more than one: reconnects)" },
    { ngx_string("cms_redis_disconnects_total"),
      "connections to Redis lost or closed" },
    { ngx_string("cms_audit_records_total"),
      "audit records written to the audit file (or its buffer)" },
    { ngx_string("cms_audit_file_errors_total"),
      "audit file writes that failed or were short (records lost)" },
    { ngx_string("cms_audit_stream_added_total"),
      "audit records queued for the Redis stream" },
    { ngx_string("cms_audit_stream_confirmed_total"),
      "audit records Redis confirmed" },
    { ngx_string("cms_audit_stream_dropped_total"),
      "audit records lost on the way to Redis (must stay 0)" },
    { ngx_string("cms_audit_stream_replayed_total"),
      "spool files of dead workers replayed to Redis" },
    { ngx_string("cms_metrics_series_dropped_total"),
      "label sets not counted because the metrics table was full" }
};


typedef struct {
    ngx_atomic_t               state;
    ngx_atomic_t               hash;
    ngx_uint_t                 family;
    size_t                     len;
    u_char                     key[NGX_CMS_METRICS_KEY_LEN];
    ngx_atomic_t               v[NGX_CMS_METRICS_NVALUES];
} ngx_cms_metrics_series_t;


typedef struct {
    ngx_atomic_t               fixed[NGX_CMS_METRIC_NFIXED];
    ngx_atomic_t               scrapes;

    /* the last refusals, for the dashboard (ngx_cms_metrics_recent()) */
    ngx_atomic_t               recent_next;
    ngx_cms_metrics_recent_t   recent[NGX_CMS_METRICS_RECENT];

    ngx_uint_t                 nseries;
    ngx_cms_metrics_series_t   series[1];
} ngx_cms_metrics_sh_t;


typedef struct {
    ngx_cms_metrics_collect_pt collect;
    void                      *data;
} ngx_cms_metrics_collector_t;


typedef struct {
    ngx_shm_zone_t            *zone;
    ngx_array_t                collectors;
} ngx_cms_metrics_main_conf_t;


/* when a request began, to the microsecond */

typedef struct {
    uint64_t                   start;
} ngx_cms_metrics_ctx_t;


static ngx_int_t ngx_cms_metrics_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cms_metrics_postconfiguration(ngx_conf_t *cf);
static void *ngx_cms_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_cms_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_cms_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_cms_metrics_stamp(ngx_http_request_t *r);
static uint64_t ngx_cms_metrics_now(void);
static ngx_cms_metrics_series_t *ngx_cms_metrics_series(
    ngx_cms_metrics_family_e family, u_char *key, size_t len);
static void ngx_cms_metrics_add(ngx_cms_metrics_family_e family,
    u_char *key, size_t len, ngx_uint_t n);
static void ngx_cms_metrics_observe(ngx_cms_metrics_series_t *s,
    uint64_t usec);
static u_char *ngx_cms_metrics_key(u_char *p, u_char *last,
    const char *name, u_char *value, size_t len);
static void ngx_cms_metrics_event(ngx_cms_event_t *ev);
static void ngx_cms_metrics_remember(ngx_cms_call_t *call,
    ngx_uint_t report, ngx_str_t *rule, ngx_str_t *reason);
static u_char *ngx_cms_metrics_event_word(ngx_cms_event_t *ev,
    const char *name, u_char *key, u_char *last);
static ngx_int_t ngx_cms_metrics_handler(ngx_http_request_t *r);
static void ngx_cms_metrics_write_series(ngx_cms_metrics_text_t *t,
    ngx_cms_metrics_family_e family);
static u_char *ngx_cms_metrics_reserve(ngx_cms_metrics_text_t *t,
    size_t size);

/* ngx_cms_metrics_state.c and ngx_cms_dashboard.c */
void ngx_cms_metrics_state(ngx_cms_metrics_text_t *t, ngx_cycle_t *cycle);
char *ngx_cms_dashboard_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_cms_metrics_sh_t  *ngx_cms_metrics_sh;


static ngx_command_t  ngx_cms_metrics_commands[] = {

    { ngx_string("cms_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_cms_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_dashboard"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_cms_dashboard_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_metrics_module_ctx = {
    ngx_cms_metrics_preconfiguration,      /* preconfiguration */
    ngx_cms_metrics_postconfiguration,     /* postconfiguration */

    ngx_cms_metrics_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_metrics_create_loc_conf,       /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_cms_metrics_module = {
    NGX_MODULE_V1,
    &ngx_cms_metrics_module_ctx,           /* module context */
    ngx_cms_metrics_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Only the event hook: failovers and moves are counted where they are
 * announced.  "cms_plugins metrics" in a location changes nothing.
 */

static ngx_cms_plugin_t  ngx_cms_metrics_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("metrics"),
    0,
    NULL,
    NULL,
    NULL,
    ngx_cms_metrics_event,
    0,
    NULL
};


static ngx_str_t  ngx_cms_metrics_zone_name = ngx_string("cms_metrics");


/* configuration */

static ngx_int_t
ngx_cms_metrics_preconfiguration(ngx_conf_t *cf)
{
    /* a reload without cms_metrics stops counting in the new workers */
    ngx_cms_metrics_sh = NULL;

    return ngx_cms_plugin_register(cf, &ngx_cms_metrics_plugin);
}


static void *
ngx_cms_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_cms_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mmcf->collectors, cf->pool, 4,
                       sizeof(ngx_cms_metrics_collector_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


/* only the location with cms_dashboard uses it: nothing to merge */

static void *
ngx_cms_metrics_create_loc_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_cms_dashboard_conf_t));
}


static char *
ngx_cms_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t     *clcf;
    ngx_cms_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_metrics_module);

    if (mmcf->zone == NULL) {
        mmcf->zone = ngx_shared_memory_add(cf, &ngx_cms_metrics_zone_name,
                                           NGX_CMS_METRICS_ZONE_SIZE,
                                           &ngx_cms_metrics_module);
        if (mmcf->zone == NULL) {
            return NGX_CONF_ERROR;
        }

        mmcf->zone->init = ngx_cms_metrics_init_zone;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_metrics_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_cms_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_metrics_module);

    /* the layers below count through this (it counts nothing without a
     * zone) */

    ngx_cms_count_handler = ngx_cms_metrics_count;

    if (mmcf->zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_cms_metrics_stamp;

    return NGX_OK;
}


ngx_int_t
ngx_cms_metrics_collector(ngx_conf_t *cf, ngx_cms_metrics_collect_pt collect,
    void *data)
{
    ngx_cms_metrics_collector_t  *c;
    ngx_cms_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_metrics_module);

    c = ngx_array_push(&mmcf->collectors);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->collect = collect;
    c->data = data;

    return NGX_OK;
}


/*
 * The table survives reloads (same name, same size), so counters stay
 * monotonic for Prometheus as long as the master runs.
 */

static ngx_int_t
ngx_cms_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                 size;
    ngx_slab_pool_t       *shpool;
    ngx_cms_metrics_sh_t  *sh;

    if (data) {
        shm_zone->data = data;
        ngx_cms_metrics_sh = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_cms_metrics_sh = shpool->data;
        return NGX_OK;
    }

    /* one allocation of everything the slab allocator can give */

    size = shm_zone->shm.size - 8 * ngx_pagesize;

    sh = ngx_slab_alloc(shpool, size);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, size);

    sh->nseries = (size - offsetof(ngx_cms_metrics_sh_t, series))
                  / sizeof(ngx_cms_metrics_series_t);

    shpool->data = sh;
    shm_zone->data = sh;
    ngx_cms_metrics_sh = sh;

    return NGX_OK;
}


/* the request path */

static uint64_t
ngx_cms_metrics_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static ngx_int_t
ngx_cms_metrics_stamp(ngx_http_request_t *r)
{
    ngx_cms_metrics_ctx_t  *ctx;

    if (r != r->main || ngx_cms_metrics_sh == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_palloc(r->pool, sizeof(ngx_cms_metrics_ctx_t));
    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    ctx->start = ngx_cms_metrics_now();

    ngx_http_set_ctx(r, ctx, ngx_cms_metrics_module);

    return NGX_DECLINED;
}


ngx_uint_t
ngx_cms_metrics_enabled(void)
{
    return ngx_cms_metrics_sh != NULL;
}


void
ngx_cms_metrics_count(ngx_cms_metric_e which, ngx_uint_t n)
{
    if (ngx_cms_metrics_sh && which < NGX_CMS_METRIC_NFIXED) {
        (void) ngx_atomic_fetch_add(&ngx_cms_metrics_sh->fixed[which], n);
    }
}


/*
 * The series every call touches (its requests counter, its family's two
 * histograms) are remembered per worker, by the addresses of the strings
 * that name them: operation names are the classifier's static strings,
 * bridge and role names live in the configuration, so within a worker's
 * life an address and a length stand for one string.  A call like one
 * seen before then costs neither a key nor a hash.
 */

#define NGX_CMS_METRICS_CACHE  64

typedef struct {
    u_char                    *operation;
    u_char                    *bridge;
    u_char                    *role;
    size_t                     operation_len;
    size_t                     bridge_len;
    size_t                     role_len;
    ngx_uint_t                 cls;        /* status and method classes */
    ngx_cms_metrics_series_t  *requests;
    ngx_cms_metrics_series_t  *proxy;
    ngx_cms_metrics_series_t  *upstream;
} ngx_cms_metrics_cached_t;


static ngx_cms_metrics_cached_t  ngx_cms_metrics_cache[NGX_CMS_METRICS_CACHE];


static void
ngx_cms_metrics_call_series(ngx_cms_call_t *call, ngx_uint_t cls,
    ngx_cms_metrics_cached_t *c)
{
    u_char     *p, *last;
    size_t      len;
    ngx_str_t   family, status;
    u_char      key[NGX_CMS_METRICS_KEY_LEN];
    u_char      buf[4];

    static ngx_str_t  none = ngx_string("none");
    static ngx_str_t  methods[] = { ngx_string("read"), ngx_string("write"),
                                    ngx_string("other") };

    last = key + sizeof(key);

    if (cls >> 2) {
        buf[0] = (u_char) ('0' + (cls >> 2));
        buf[1] = 'x';
        buf[2] = 'x';
        status.data = buf;
        status.len = 3;

    } else {
        status = none;
    }

    p = ngx_cms_metrics_key(key, last, "operation", call->operation.data,
                            call->operation.len);
    p = ngx_cms_metrics_key(p, last, "method", methods[cls & 3].data,
                            methods[cls & 3].len);
    p = ngx_cms_metrics_key(p, last, "status", status.data, status.len);
    p = ngx_cms_metrics_key(p, last, "bridge",
                            call->bridge.len ? call->bridge.data : none.data,
                            call->bridge.len ? call->bridge.len : none.len);
    p = ngx_cms_metrics_key(p, last, "role",
                            call->role.len ? call->role.data : none.data,
                            call->role.len ? call->role.len : none.len);

    c->requests = ngx_cms_metrics_series(NGX_CMS_F_REQUESTS, key, p - key);

    /* latency, by the operation's family: "coSpace" of "coSpace.modify" */

    family = call->operation;

    if (!call->known || family.len == 0) {
        ngx_str_set(&family, "unknown");

    } else {
        for (len = 0; len < family.len && family.data[len] != '.'; len++) {
            /* void */
        }

        family.len = len;
    }

    p = ngx_cms_metrics_key(key, last, "family", family.data, family.len);

    c->proxy = ngx_cms_metrics_series(NGX_CMS_F_PROXY_SECONDS, key, p - key);
    c->upstream = ngx_cms_metrics_series(NGX_CMS_F_BRIDGE_SECONDS, key,
                                         p - key);

    /* remembered only when every one was found */

    if (c->requests && c->proxy && c->upstream) {
        c->operation = call->operation.data;
        c->operation_len = call->operation.len;
        c->bridge = call->bridge.data;
        c->bridge_len = call->bridge.len;
        c->role = call->role.data;
        c->role_len = call->role.len;
        c->cls = cls;

    } else {
        c->operation = NULL;
    }
}


void
ngx_cms_metrics_call(ngx_cms_call_t *call)
{
    u_char                    *p, *last, *q, *end;
    size_t                     len;
    uint64_t                   total, bridge;
    ngx_str_t                 *rules;
    ngx_uint_t                 cls, h;
    ngx_time_t                *tp;
    ngx_http_request_t        *r;
    ngx_cms_metrics_ctx_t     *ctx;
    ngx_cms_metrics_cached_t  *c;
    u_char                     key[NGX_CMS_METRICS_KEY_LEN];

    if (ngx_cms_metrics_sh == NULL) {
        return;
    }

    r = call->request;
    last = key + sizeof(key);

    /* status class (0: none) and method class (read, write, other) */

    cls = (call->status >= 100 && call->status < 600)
          ? (call->status / 100) << 2 : 0;
    cls |= call->write ? 1 : (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) ? 0
                                                                       : 2;

    h = ((uintptr_t) call->operation.data >> 3)
        ^ ((uintptr_t) call->bridge.data >> 5)
        ^ ((uintptr_t) call->role.data >> 7) ^ (cls * 31);

    c = &ngx_cms_metrics_cache[h % NGX_CMS_METRICS_CACHE];

    if (c->operation != call->operation.data
        || c->operation_len != call->operation.len
        || c->bridge != call->bridge.data
        || c->bridge_len != call->bridge.len
        || c->role != call->role.data
        || c->role_len != call->role.len
        || c->cls != cls)
    {
        ngx_cms_metrics_call_series(call, cls, c);
    }

    if (c->requests) {
        (void) ngx_atomic_fetch_add(&c->requests->v[0], 1);
    }

    /* the time: ours, and the bridges' */

    ctx = ngx_http_get_module_ctx(r, ngx_cms_metrics_module);

    if (ctx) {
        total = ngx_cms_metrics_now() - ctx->start;

    } else {
        /* an internal redirect wiped our stamp: nginx's, to the ms */
        tp = ngx_timeofday();
        total = ((uint64_t) (tp->sec - r->start_sec) * 1000
                 + tp->msec - r->start_msec) * 1000;
    }

    bridge = (uint64_t) call->upstream_ms * 1000;

    ngx_cms_metrics_observe(c->proxy, total > bridge ? total - bridge : 0);

    if (call->bridge.len) {
        ngx_cms_metrics_observe(c->upstream, bridge);
    }

    /* denials, and the other answers of our own */

    if (call->verdict == NGX_CMS_VERDICT_DENY) {
        p = ngx_cms_metrics_key(key, last, "plugin", call->plugin.data,
                                call->plugin.len);
        p = ngx_cms_metrics_key(p, last, "rule", call->rule.data,
                                call->rule.len);

        ngx_cms_metrics_add(NGX_CMS_F_DENIALS, key, p - key, 1);

        p = ngx_cms_metrics_key(key, last, "reason", (u_char *) "denied", 6);
        ngx_cms_metrics_add(NGX_CMS_F_ANSWERS, key, p - key, 1);

    } else if (call->bridge_status == 0 && call->status) {
        q = NULL;

        if (call->client_aborted) {
            q = (u_char *) "client_aborted";

        } else if (call->upstream_failed) {
            q = (u_char *) "bridge_no_answer";

        } else if (call->status == NGX_HTTP_SERVICE_UNAVAILABLE) {
            q = (u_char *) "no_bridge";

        } else if (call->status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            q = (u_char *) "too_large";

        } else if (call->status >= 400 && call->status < 500) {
            q = (u_char *) "bad_request";

        } else if (call->status >= 500) {
            q = (u_char *) "error";
        }

        if (q) {
            p = ngx_cms_metrics_key(key, last, "reason", q, ngx_strlen(q));
            ngx_cms_metrics_add(NGX_CMS_F_ANSWERS, key, p - key, 1);
        }
    }

    /* what report-only rules would have refused: names, comma separated */

    rules = ngx_cms_note_get(call, "would_deny_rules");

    if (call->verdict == NGX_CMS_VERDICT_DENY) {
        ngx_cms_metrics_remember(call, 0, &call->rule, &call->reason);

    } else if (rules && rules->len) {
        ngx_cms_metrics_remember(call, 1, rules,
                                 ngx_cms_note_get(call, "would_deny"));
    }

    if (rules && rules->len) {
        q = rules->data;
        end = rules->data + rules->len;

        while (q < end) {
            for (len = 0; q + len < end && q[len] != ','; len++) {
                /* void */
            }

            if (len) {
                p = ngx_cms_metrics_key(key, last, "rule", q, len);
                ngx_cms_metrics_add(NGX_CMS_F_WOULD_DENY, key, p - key, 1);
            }

            q += len + 1;
        }
    }
}


/*
 * The last refusals, in a ring: a slot is taken with a compare-and-swap
 * of its sequence number (odd while written), so a reader never copies
 * one half written and two writers never share one; a slot still being
 * written when the ring comes round again is skipped, not waited for.
 */

static void
ngx_cms_metrics_copy(u_char *dst, size_t *dst_len, size_t size, ngx_str_t *s)
{
    *dst_len = (s && s->len) ? ngx_min(s->len, size) : 0;

    if (*dst_len) {
        ngx_memcpy(dst, s->data, *dst_len);
    }
}


static void
ngx_cms_metrics_remember(ngx_cms_call_t *call, ngx_uint_t report,
    ngx_str_t *rule, ngx_str_t *reason)
{
    ngx_uint_t                 i;
    ngx_atomic_uint_t          seq;
    ngx_cms_metrics_sh_t      *sh;
    ngx_cms_metrics_recent_t  *d;

    sh = ngx_cms_metrics_sh;

    i = ngx_atomic_fetch_add(&sh->recent_next, 1) % NGX_CMS_METRICS_RECENT;
    d = &sh->recent[i];

    seq = d->seq;

    if ((seq & 1) || !ngx_atomic_cmp_set(&d->seq, seq, seq + 1)) {
        return;
    }

    d->at = ngx_time();
    d->status = call->status;
    d->report = report;

    ngx_cms_metrics_copy(d->rule, &d->rule_len, sizeof(d->rule), rule);
    ngx_cms_metrics_copy(d->plugin, &d->plugin_len, sizeof(d->plugin),
                         report ? NULL : &call->plugin);
    ngx_cms_metrics_copy(d->operation, &d->operation_len,
                         sizeof(d->operation), &call->operation);
    ngx_cms_metrics_copy(d->role, &d->role_len, sizeof(d->role),
                         &call->role);
    ngx_cms_metrics_copy(d->reason, &d->reason_len, sizeof(d->reason),
                         reason);

    ngx_memory_barrier();

    d->seq = seq + 2;
}


ngx_uint_t
ngx_cms_metrics_recent(ngx_cms_metrics_recent_t *out)
{
    ngx_uint_t                 i, n, first;
    ngx_atomic_uint_t          seq;
    ngx_cms_metrics_sh_t      *sh;
    ngx_cms_metrics_recent_t  *d;

    sh = ngx_cms_metrics_sh;

    if (sh == NULL) {
        return 0;
    }

    /* oldest first */

    first = sh->recent_next;
    n = 0;

    for (i = 0; i < NGX_CMS_METRICS_RECENT; i++) {
        d = &sh->recent[(first + i) % NGX_CMS_METRICS_RECENT];

        seq = d->seq;

        if (seq == 0 || (seq & 1)) {
            continue;
        }

        ngx_memory_barrier();
        ngx_memcpy(&out[n], d, sizeof(ngx_cms_metrics_recent_t));
        ngx_memory_barrier();

        if (d->seq == seq) {
            n++;
        }
    }

    return n;
}


/* name="value", after a comma when not the first; cut short, never over */

static u_char *
ngx_cms_metrics_key(u_char *p, u_char *last, const char *name,
    u_char *value, size_t len)
{
    size_t   n, i;

    n = ngx_strlen(name);

    if (p + n + 5 + 2 * len > last) {
        len = 0;
        if (p + n + 5 > last) {
            return p;
        }
    }

    /* key buffers are NGX_CMS_METRICS_KEY_LEN long: p is past a label */

    if (p != last - NGX_CMS_METRICS_KEY_LEN) {
        *p++ = ',';
    }

    p = ngx_cpymem(p, name, n);
    *p++ = '=';
    *p++ = '"';

    for (i = 0; i < len; i++) {
        if (value[i] == '\\' || value[i] == '"') {
            *p++ = '\\';
            *p++ = value[i];

        } else if (value[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = value[i];
        }
    }

    *p++ = '"';

    return p;
}


/*
 * The series of a label set: found by its hash without a lock, claimed
 * with a compare-and-swap when new.  A slot being written by another
 * worker is waited for (a memcpy away); NULL when the table is full.
 */

static ngx_cms_metrics_series_t *
ngx_cms_metrics_series(ngx_cms_metrics_family_e family, u_char *key,
    size_t len)
{
    uint32_t                   hash;
    ngx_uint_t                 i, n, probe, spin;
    ngx_atomic_uint_t          state;
    ngx_cms_metrics_sh_t      *sh;
    ngx_cms_metrics_series_t  *s;

    sh = ngx_cms_metrics_sh;
    n = sh->nseries;

    hash = ngx_crc32_short(key, len) ^ (uint32_t) (family * 0x9e3779b1);
    i = hash % n;

    for (probe = 0; probe < NGX_CMS_METRICS_PROBES && probe < n; probe++) {
        s = &sh->series[i];

        state = s->state;

        if (state == NGX_CMS_SERIES_FREE) {

            if (ngx_atomic_cmp_set(&s->state, NGX_CMS_SERIES_FREE,
                                   NGX_CMS_SERIES_WRITING))
            {
                s->hash = hash;
                s->family = family;
                s->len = len;
                ngx_memcpy(s->key, key, len);
                ngx_memory_barrier();
                s->state = NGX_CMS_SERIES_READY;

                return s;
            }

            state = s->state;
        }

        for (spin = 0; state == NGX_CMS_SERIES_WRITING; spin++) {
            if (spin == NGX_CMS_METRICS_SPIN) {
                /* a writer that died mid-copy: better lost than twice */
                goto dropped;
            }

            ngx_cpu_pause();
            state = s->state;
        }

        ngx_memory_barrier();

        if (s->hash == hash && s->family == (ngx_uint_t) family
            && s->len == len && ngx_memcmp(s->key, key, len) == 0)
        {
            return s;
        }

        i = (i + 1) % n;
    }

dropped:

    (void) ngx_atomic_fetch_add(
                     &sh->fixed[NGX_CMS_METRIC_SERIES_DROPPED], 1);

    return NULL;
}


static void
ngx_cms_metrics_add(ngx_cms_metrics_family_e family, u_char *key,
    size_t len, ngx_uint_t n)
{
    ngx_cms_metrics_series_t  *s;

    s = ngx_cms_metrics_series(family, key, len);

    if (s) {
        (void) ngx_atomic_fetch_add(&s->v[0], n);
    }
}


static void
ngx_cms_metrics_observe(ngx_cms_metrics_series_t *s, uint64_t usec)
{
    ngx_uint_t  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < NGX_CMS_METRICS_NBUCKETS; i++) {
        if (usec <= ngx_cms_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&s->v[i], 1);
    (void) ngx_atomic_fetch_add(&s->v[NGX_CMS_METRICS_NBUCKETS + 1],
                                (ngx_atomic_int_t) usec);
}


/*
 * name="word" in key from the event detail's "name":"word", where a word
 * is what the code writes there: lower-case letters and '_', at most 32;
 * NULL when there is none.
 */

static u_char *
ngx_cms_metrics_event_word(ngx_cms_event_t *ev, const char *name,
    u_char *key, u_char *last)
{
    u_char  *v, *end;
    size_t   len, n;
    u_char   pattern[40];

    n = ngx_strlen(name);

    if (n + 5 > sizeof(pattern)) {
        return NULL;
    }

    pattern[0] = '"';
    ngx_memcpy(pattern + 1, name, n);
    ngx_memcpy(pattern + 1 + n, "\":\"", 3);
    n += 4;

    end = ev->detail.data + ev->detail.len;

    v = ngx_strlcasestrn(ev->detail.data, end, pattern, n - 1);
    if (v == NULL) {
        return NULL;
    }

    v += n;

    for (len = 0;
         v + len < end && len < 32
         && ((v[len] >= 'a' && v[len] <= 'z') || v[len] == '_');
         len++)
    {
        /* void */
    }

    if (len == 0) {
        return NULL;
    }

    return ngx_cms_metrics_key(key, last, name, v, len);
}


/*
 * Events: a failover is counted by the worker that decided it (others
 * adopt it without an event); the details are the core's JSON, so the
 * fields looked for are known to be there.
 */

static void
ngx_cms_metrics_event(ngx_cms_event_t *ev)
{
    u_char                *p, *last, *v;
    size_t                 len;
    ngx_str_t              upstream;
    const char            *cause;
    ngx_cms_bridge_t      *primary;
    ngx_cms_fo_cluster_t  *cl;
    u_char                 key[NGX_CMS_METRICS_KEY_LEN];

    if (ngx_cms_metrics_sh == NULL) {
        return;
    }

    last = key + sizeof(key);

    /* a move's outcome, a slot change's action: words of the code */

    if (ev->type.len == 4 && ngx_strncmp(ev->type.data, "move", 4) == 0) {
        p = ngx_cms_metrics_event_word(ev, "outcome", key, last);

        if (p) {
            ngx_cms_metrics_add(NGX_CMS_F_MOVES, key, p - key, 1);
        }

        return;
    }

    if (ev->type.len == 4 && ngx_strncmp(ev->type.data, "slot", 4) == 0) {
        p = ngx_cms_metrics_event_word(ev, "action", key, last);

        if (p) {
            ngx_cms_metrics_add(NGX_CMS_F_SLOT_EVENTS, key, p - key, 1);
        }

        return;
    }

    if (ev->type.len != 8 || ngx_strncmp(ev->type.data, "failover", 8) != 0)
    {
        return;
    }

    v = ngx_strlcasestrn(ev->detail.data, ev->detail.data + ev->detail.len,
                         (u_char *) "{\"upstream\":\"", 13 - 1);
    if (v == NULL) {
        return;
    }

    upstream.data = v + 13;

    for (len = 0; upstream.data + len < ev->detail.data + ev->detail.len
                  && upstream.data[len] != '"';
         len++)
    {
        /* void */
    }

    upstream.len = len;

    /* only a configured upstream: the label stays bounded */

    cl = ngx_cms_failover_cluster((ngx_cycle_t *) ngx_cycle, &upstream);
    if (cl == NULL) {
        return;
    }

    /* the cause, from who decided: "admin:<user>@<address>" (an operator),
     * "health-check" or "failback" (automatic), anything else */

    v = ngx_strlcasestrn(ev->detail.data, ev->detail.data + ev->detail.len,
                         (u_char *) "\"by\":\"", 6 - 1);

    cause = "other";

    if (v) {
        v += 6;
        len = ev->detail.data + ev->detail.len - v;

        if (len >= 6 && ngx_strncmp(v, "admin:", 6) == 0) {
            cause = "manual";

        } else if (len >= 13 && ngx_strncmp(v, "health-check\"", 13) == 0) {
            cause = "health_check";

        } else if (len >= 9 && ngx_strncmp(v, "failback\"", 9) == 0) {
            cause = "auto_failback";
        }
    }

    primary = &((ngx_cms_bridge_t *) cl->bridges.elts)[cl->primary];

    p = ngx_cms_metrics_key(key, last, "upstream", upstream.data,
                            upstream.len);
    p = ngx_cms_metrics_key(p, last, "cause", (u_char *) cause,
                            ngx_strlen(cause));

    if (ev->subject.len == primary->name.len
        && ngx_strncmp(ev->subject.data, primary->name.data,
                       primary->name.len) == 0)
    {
        ngx_cms_metrics_add(NGX_CMS_F_FAILBACKS, key, p - key, 1);

    } else {
        ngx_cms_metrics_add(NGX_CMS_F_FAILOVERS, key, p - key, 1);
    }
}


/* the scrape */

static ngx_int_t
ngx_cms_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_cms_metrics_sh_t         *sh;
    ngx_cms_metrics_text_t        t;
    ngx_cms_metrics_collector_t  *c;
    ngx_cms_metrics_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    sh = ngx_cms_metrics_sh;
    if (sh == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    (void) ngx_atomic_fetch_add(&sh->scrapes, 1);

    ngx_memzero(&t, sizeof(ngx_cms_metrics_text_t));
    t.pool = r->pool;
    t.last = &t.first;

    for (i = 0; i < NGX_CMS_F_N; i++) {
        ngx_cms_metrics_write_series(&t, i);
    }

    for (i = 0; i < NGX_CMS_METRIC_NFIXED; i++) {
        ngx_cms_metrics_family(&t, (char *) ngx_cms_metrics_fixed[i].name.data,
                               "counter", ngx_cms_metrics_fixed[i].help);
        ngx_cms_metrics_printf(&t, "%V %uA\n",
                               &ngx_cms_metrics_fixed[i].name,
                               sh->fixed[i]);
    }

    /* what is still on its way to Redis, from every worker's counters */

    ngx_cms_metrics_family(&t, "cms_audit_stream_backlog", "gauge",
                           "audit records queued for Redis and not yet "
                           "confirmed or dropped (memory and spool files)");
    ngx_cms_metrics_printf(&t, "cms_audit_stream_backlog %A\n",
                           (ngx_atomic_int_t)
                           (sh->fixed[NGX_CMS_METRIC_STREAM_ADDED]
                            - sh->fixed[NGX_CMS_METRIC_STREAM_CONFIRMED]
                            - sh->fixed[NGX_CMS_METRIC_STREAM_LOST]));

    ngx_cms_metrics_family(&t, "cms_metrics_scrapes_total", "counter",
                           "answers of cms_metrics");
    ngx_cms_metrics_printf(&t, "cms_metrics_scrapes_total %uA\n",
                           sh->scrapes);

    ngx_cms_metrics_state(&t, (ngx_cycle_t *) ngx_cycle);

    mmcf = ngx_http_get_module_main_conf(r, ngx_cms_metrics_module);

    c = mmcf->collectors.elts;
    for (i = 0; i < mmcf->collectors.nelts; i++) {
        c[i].collect(&t, c[i].data);
    }

    if (t.failed || t.first == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = t.size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    t.b->last_buf = (r == r->main) ? 1 : 0;
    t.b->last_in_chain = 1;

    return ngx_http_output_filter(r, t.first);
}


static void
ngx_cms_metrics_write_series(ngx_cms_metrics_text_t *t,
    ngx_cms_metrics_family_e family)
{
    ngx_str_t                  key;
    ngx_uint_t                 i, b;
    ngx_atomic_uint_t          cum, v;
    ngx_cms_metrics_sh_t      *sh;
    ngx_cms_metrics_family_t  *f;
    ngx_cms_metrics_series_t  *s;

    sh = ngx_cms_metrics_sh;
    f = &ngx_cms_metrics_families[family];

    /* HELP and TYPE even before the first sample: the rules can rely on
     * every family being there */

    ngx_cms_metrics_family(t, f->name, f->histogram ? "histogram" : "counter",
                           f->help);

    for (i = 0; i < sh->nseries; i++) {
        s = &sh->series[i];

        if (s->state != NGX_CMS_SERIES_READY
            || s->family != (ngx_uint_t) family)
        {
            continue;
        }

        ngx_memory_barrier();

        key.data = s->key;
        key.len = s->len;

        if (!f->histogram) {
            ngx_cms_metrics_printf(t, "%s{%V} %uA\n", f->name, &key,
                                   s->v[0]);
            continue;
        }

        cum = 0;

        for (b = 0; b < NGX_CMS_METRICS_NBUCKETS; b++) {
            cum += s->v[b];
            ngx_cms_metrics_printf(t, "%s_bucket{%V,le=\"%s\"} %uA\n",
                                   f->name, &key,
                                   ngx_cms_metrics_le[b], cum);
        }

        cum += s->v[NGX_CMS_METRICS_NBUCKETS];
        v = s->v[NGX_CMS_METRICS_NBUCKETS + 1];

        ngx_cms_metrics_printf(t, "%s_bucket{%V,le=\"+Inf\"} %uA\n",
                               f->name, &key, cum);
        ngx_cms_metrics_printf(t, "%s_sum{%V} %uA.%06uA\n",
                               f->name, &key,
                               v / 1000000, v % 1000000);
        ngx_cms_metrics_printf(t, "%s_count{%V} %uA\n",
                               f->name, &key, cum);
    }
}


/* the text writer */

static u_char *
ngx_cms_metrics_reserve(ngx_cms_metrics_text_t *t, size_t size)
{
    size_t        n;
    ngx_chain_t  *cl;

    if (t->b && (size_t) (t->b->end - t->b->last) >= size) {
        return t->b->last;
    }

    n = ngx_max(size, 16384);

    cl = ngx_alloc_chain_link(t->pool);
    if (cl == NULL) {
        t->failed = 1;
        return NULL;
    }

    cl->buf = ngx_create_temp_buf(t->pool, n);
    if (cl->buf == NULL) {
        t->failed = 1;
        return NULL;
    }

    cl->next = NULL;
    *t->last = cl;
    t->last = &cl->next;
    t->b = cl->buf;

    return t->b->last;
}


void
ngx_cms_metrics_printf(ngx_cms_metrics_text_t *t, const char *fmt, ...)
{
    u_char   *p, *q;
    va_list   args;

    p = ngx_cms_metrics_reserve(t, 1024);
    if (p == NULL) {
        return;
    }

    va_start(args, fmt);
    q = ngx_vslprintf(p, t->b->end, fmt, args);
    va_end(args);

    t->size += q - p;
    t->b->last = q;
}


void
ngx_cms_metrics_family(ngx_cms_metrics_text_t *t, const char *name,
    const char *type, const char *help)
{
    ngx_cms_metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}


void
ngx_cms_metrics_label(ngx_cms_metrics_text_t *t, u_char *s, size_t len)
{
    u_char  *p, *start;
    size_t   i;

    p = ngx_cms_metrics_reserve(t, 2 * len + 1);
    if (p == NULL) {
        return;
    }

    start = p;

    for (i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            *p++ = '\\';
            *p++ = s[i];

        } else if (s[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = s[i];
        }
    }

    t->size += p - start;
    t->b->last = p;
}
