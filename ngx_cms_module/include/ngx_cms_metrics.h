
/*
 * ngx_cms metrics: counters in a shared memory zone of their own, and
 * "cms_metrics;", which answers them in the Prometheus text format 0.0.4.
 *
 * The request path only adds: every series is a slot of a fixed table
 * in shared memory, found by a hash of its labels and claimed with one
 * compare-and-swap the first time it is seen; after that a request costs
 * a lookup without a lock and an ngx_atomic_fetch_add per value.  Labels
 * are only configured or built-in strings (operation names of the core's
 * classification, bridge and role names, rule and plugin names), so the
 * table stays small; a series that finds no room is counted, not kept.
 *
 * Gauges (bridge health, the active bridge, slots) are read from the
 * existing shared state when Prometheus scrapes; nothing is written to
 * disk or sent anywhere per scrape.
 */


#ifndef _NGX_CMS_METRICS_H_INCLUDED_
#define _NGX_CMS_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_cms_plugin.h"


/* counters kept by other parts of the core, cluster-wide */

typedef enum {
    NGX_CMS_METRIC_REDIS_SENT = 0,
    NGX_CMS_METRIC_REDIS_FAILED,
    NGX_CMS_METRIC_REDIS_CONNECTS,
    NGX_CMS_METRIC_REDIS_DISCONNECTS,
    NGX_CMS_METRIC_AUDIT_RECORDS,
    NGX_CMS_METRIC_AUDIT_FILE_ERRORS,
    NGX_CMS_METRIC_STREAM_ADDED,
    NGX_CMS_METRIC_STREAM_CONFIRMED,
    NGX_CMS_METRIC_STREAM_LOST,
    NGX_CMS_METRIC_STREAM_REPLAYED,
    NGX_CMS_METRIC_SERIES_DROPPED,
    NGX_CMS_METRIC_NFIXED
} ngx_cms_metric_e;


/* the text of one scrape, in pool buffers of 16k chained */

typedef struct {
    ngx_pool_t                *pool;
    ngx_chain_t               *first;
    ngx_chain_t              **last;
    ngx_buf_t                 *b;
    off_t                      size;
    ngx_uint_t                 failed;
} ngx_cms_metrics_text_t;

typedef void (*ngx_cms_metrics_collect_pt)(ngx_cms_metrics_text_t *t,
    void *data);


/* one of the last refusals (denied, or reported by a report-only rule) */

#define NGX_CMS_METRICS_RECENT  32

typedef struct {
    ngx_atomic_t               seq;        /* odd while written */
    time_t                     at;
    ngx_uint_t                 status;
    ngx_uint_t                 report;     /* would have been refused */
    size_t                     rule_len;
    size_t                     plugin_len;
    size_t                     operation_len;
    size_t                     role_len;
    size_t                     reason_len;
    u_char                     rule[96];   /* several, comma separated,
                                              when reported */
    u_char                     plugin[32];
    u_char                     operation[48];
    u_char                     role[48];
    u_char                     reason[256];
} ngx_cms_metrics_recent_t;


/* copies them, oldest first, into out (NGX_CMS_METRICS_RECENT of them);
 * returns how many */
ngx_uint_t ngx_cms_metrics_recent(ngx_cms_metrics_recent_t *out);


/* the module's location configuration: "cms_dashboard"'s */

typedef struct {
    ngx_str_t                  status;
    ngx_str_t                  slots;
    ngx_str_t                  metrics;
    ngx_str_t                  admin;
    ngx_str_t                  recovery;   /* cms_recovery_status; none:
                                              no section */
} ngx_cms_dashboard_conf_t;


extern ngx_module_t  ngx_cms_metrics_module;


/*
 * Adds n to a fixed counter; nothing when no cms_metrics is configured.
 * Any layer counts with ngx_cms_count() (util/ngx_cms_count.c), which
 * goes to the counting the metrics module registered in
 * ngx_cms_count_handler: the Redis client, below the module, never calls
 * up into it.
 */
void ngx_cms_count(ngx_cms_metric_e which, ngx_uint_t n);
extern void (*ngx_cms_count_handler)(ngx_cms_metric_e which, ngx_uint_t n);

void ngx_cms_metrics_count(ngx_cms_metric_e which, ngx_uint_t n);

/* is some location's cms_metrics counting? */
ngx_uint_t ngx_cms_metrics_enabled(void);

/* the core's log phase: one understood API call */
void ngx_cms_metrics_call(ngx_cms_call_t *call);

/*
 * Another part (a plugin) adds families of its own to every scrape;
 * from its postconfiguration.  The collector writes with the functions
 * below, under no lock of ours.
 */
ngx_int_t ngx_cms_metrics_collector(ngx_conf_t *cf,
    ngx_cms_metrics_collect_pt collect, void *data);

void ngx_cms_metrics_family(ngx_cms_metrics_text_t *t, const char *name,
    const char *type, const char *help);
void ngx_cms_metrics_printf(ngx_cms_metrics_text_t *t, const char *fmt, ...);
/* a label value, escaped as the text format wants ('\\', '"', '\n') */
void ngx_cms_metrics_label(ngx_cms_metrics_text_t *t, u_char *s, size_t len);


#endif /* _NGX_CMS_METRICS_H_INCLUDED_ */
