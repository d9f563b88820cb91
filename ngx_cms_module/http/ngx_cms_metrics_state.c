
/*
 * ngx_cms metrics: the gauges and counters that already live in the
 * failover zone (bridges, the active bridge, its epoch, the call map),
 * read when Prometheus scrapes.  Each cluster is copied under its lock,
 * as cms_status does, and formatted after.  Redis's link is the
 * answering worker's view (every worker has its own connection).
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_metrics.h"

#include "ngx_cms_redis.h"


void ngx_cms_metrics_state(ngx_cms_metrics_text_t *t, ngx_cycle_t *cycle);


typedef enum {
    NGX_CMS_B_UP = 0,
    NGX_CMS_B_KNOWN,
    NGX_CMS_B_CRED,
    NGX_CMS_B_ACTIVE,
    NGX_CMS_B_PRIMARY,
    NGX_CMS_B_LATENCY,
    NGX_CMS_B_CHECKS,
    NGX_CMS_B_FAILURES,
    NGX_CMS_B_PASSIVE,
    NGX_CMS_B_N
} ngx_cms_metrics_bridge_e;


static struct {
    const char  *name;
    const char  *type;
    const char  *help;
} ngx_cms_metrics_bridge_families[NGX_CMS_B_N] = {
    { "cms_bridge_up", "gauge",
      "1 when the last health checks found the bridge up" },
    { "cms_bridge_checked", "gauge",
      "1 once the bridge's health is known (checked at least once)" },
    { "cms_bridge_credentials_ok", "gauge",
      "1 when the bridge accepted the proxy's credentials" },
    { "cms_bridge_active", "gauge", "1 for the cluster's active bridge" },
    { "cms_bridge_primary", "gauge", "1 for the configured primary" },
    { "cms_bridge_check_latency_seconds", "gauge",
      "duration of the last health check" },
    { "cms_bridge_checks_total", "counter", "health checks made" },
    { "cms_bridge_check_failures_total", "counter", "health checks failed" },
    { "cms_bridge_passive_failures_total", "counter",
      "failures seen on API calls (no answer, 5xx)" }
};


static void
ngx_cms_metrics_bridge_labels(ngx_cms_metrics_text_t *t, const char *name,
    ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b)
{
    ngx_cms_metrics_printf(t, "%s{upstream=\"", name);
    ngx_cms_metrics_label(t, cl->name.data, cl->name.len);
    ngx_cms_metrics_printf(t, "\",bridge=\"");
    ngx_cms_metrics_label(t, b->name.data, b->name.len);
    ngx_cms_metrics_printf(t, "\"} ");
}


static void
ngx_cms_metrics_cluster_label(ngx_cms_metrics_text_t *t, const char *name,
    ngx_cms_fo_cluster_t *cl)
{
    ngx_cms_metrics_printf(t, "%s{upstream=\"", name);
    ngx_cms_metrics_label(t, cl->name.data, cl->name.len);
    ngx_cms_metrics_printf(t, "\"} ");
}


void
ngx_cms_metrics_state(ngx_cms_metrics_text_t *t, ngx_cycle_t *cycle)
{
    ngx_uint_t               i, k, f, n, v;
    ngx_cms_bridge_t     *b;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_shm_bridge_t    *sb;
    ngx_cms_shm_cluster_t   *snap, *sh;
    ngx_cms_shm_change_t    *last;
    ngx_cms_fo_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_cms_failover_module);

    n = fmcf ? fmcf->clusters.nelts : 0;
    cl = n ? fmcf->clusters.elts : NULL;

    snap = n ? ngx_palloc(t->pool, n * sizeof(ngx_cms_shm_cluster_t)) : NULL;

    if (n && snap == NULL) {
        t->failed = 1;
        return;
    }

    for (i = 0; i < n; i++) {
        if (cl[i]->sh == NULL) {
            continue;
        }

        ngx_shmtx_lock(&cl[i]->shpool->mutex);
        ngx_memcpy(&snap[i], cl[i]->sh, sizeof(ngx_cms_shm_cluster_t));
        ngx_shmtx_unlock(&cl[i]->shpool->mutex);
    }

    /* per bridge */

    for (f = 0; f < NGX_CMS_B_N; f++) {
        ngx_cms_metrics_family(t, ngx_cms_metrics_bridge_families[f].name,
                               ngx_cms_metrics_bridge_families[f].type,
                               ngx_cms_metrics_bridge_families[f].help);

        for (i = 0; i < n; i++) {
            if (cl[i]->sh == NULL) {
                continue;
            }

            sh = &snap[i];

            for (k = 0; k < cl[i]->bridges.nelts; k++) {
                b = cl[i]->order[k];
                sb = &sh->bridges[b->slot];

                ngx_cms_metrics_bridge_labels(t,
                                     ngx_cms_metrics_bridge_families[f].name,
                                     cl[i], b);

                switch (f) {

                case NGX_CMS_B_UP:
                    v = (sb->health == NGX_CMS_HEALTH_UP);
                    break;

                case NGX_CMS_B_KNOWN:
                    v = (sb->health != NGX_CMS_HEALTH_UNKNOWN);
                    break;

                case NGX_CMS_B_CRED:
                    v = (sb->credentials == NGX_CMS_CRED_OK);
                    break;

                case NGX_CMS_B_ACTIVE:
                    v = (b->slot == sh->active);
                    break;

                case NGX_CMS_B_PRIMARY:
                    v = (b->role == NGX_CMS_ROLE_PRIMARY);
                    break;

                case NGX_CMS_B_LATENCY:
                    ngx_cms_metrics_printf(t, "%M.%03M\n",
                                           sb->latency / 1000,
                                           sb->latency % 1000);
                    continue;

                case NGX_CMS_B_CHECKS:
                    v = sb->checks;
                    break;

                case NGX_CMS_B_FAILURES:
                    v = sb->failures;
                    break;

                default: /* NGX_CMS_B_PASSIVE */
                    v = sb->passive;
                    break;
                }

                ngx_cms_metrics_printf(t, "%ui\n", v);
            }
        }
    }

    /* per cluster */

    ngx_cms_metrics_family(t, "cms_bridges_healthy", "gauge",
                           "bridges of the cluster found up");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh == NULL) {
            continue;
        }

        v = 0;

        for (k = 0; k < cl[i]->bridges.nelts; k++) {
            b = cl[i]->order[k];
            v += (snap[i].bridges[b->slot].health == NGX_CMS_HEALTH_UP);
        }

        ngx_cms_metrics_cluster_label(t, "cms_bridges_healthy", cl[i]);
        ngx_cms_metrics_printf(t, "%ui\n", v);
    }

    ngx_cms_metrics_family(t, "cms_failover_epoch", "gauge",
                           "the epoch of the active bridge's choice");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_failover_epoch", cl[i]);
            ngx_cms_metrics_printf(t, "%uL\n", snap[i].epoch);
        }
    }

    ngx_cms_metrics_family(t, "cms_failover_manual", "gauge",
                           "1 when an operator chose the active bridge");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_failover_manual", cl[i]);
            ngx_cms_metrics_printf(t, "%ui\n", snap[i].manual ? 1 : 0);
        }
    }

    ngx_cms_metrics_family(t, "cms_failover_changes_total", "counter",
                           "changes of the active bridge this instance "
                           "made or adopted");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_failover_changes_total",
                                          cl[i]);
            ngx_cms_metrics_printf(t, "%ui\n", snap[i].nchanges);
        }
    }

    ngx_cms_metrics_family(t, "cms_failover_last_change_timestamp_seconds",
                           "gauge", "when the active bridge last changed "
                           "(0: never)");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            sh = &snap[i];
            last = sh->nchanges
                   ? &sh->history[(sh->nchanges - 1) % NGX_CMS_SHM_HISTORY]
                   : NULL;

            ngx_cms_metrics_cluster_label(t,
                                 "cms_failover_last_change_timestamp_seconds",
                                 cl[i]);
            ngx_cms_metrics_printf(t, "%T\n", last ? last->at : 0);
        }
    }

    ngx_cms_metrics_family(t, "cms_discovered_bridges", "gauge",
                           "call bridges the active bridge lists");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_discovered_bridges", cl[i]);
            ngx_cms_metrics_printf(t, "%ui\n", snap[i].ndiscovered);
        }
    }

    ngx_cms_metrics_family(t, "cms_affinity_calls", "gauge",
                           "calls whose bridge is remembered");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_affinity_calls", cl[i]);
            ngx_cms_metrics_printf(t, "%ui\n", snap[i].ncalls);
        }
    }

    ngx_cms_metrics_family(t, "cms_affinity_evicted_total", "counter",
                           "calls forgotten to make room");

    for (i = 0; i < n; i++) {
        if (cl[i]->sh) {
            ngx_cms_metrics_cluster_label(t, "cms_affinity_evicted_total",
                                          cl[i]);
            ngx_cms_metrics_printf(t, "%ui\n", snap[i].calls_evicted);
        }
    }

    /* Redis: this worker's link */

    {
    ngx_str_t  json, master;

    if (ngx_cms_redis_status_json(t->pool, &json) != NGX_OK) {
        t->failed = 1;
        return;
    }

    /* "cms_redis" not configured: no series, so no alert about it */

    if (ngx_strncmp(json.data, "{\"configured\":true", 18) == 0) {
        ngx_cms_metrics_family(t, "cms_redis_up", "gauge",
                               "1 when the answering worker can use Redis");
        ngx_cms_metrics_printf(t, "cms_redis_up %d\n",
                               ngx_cms_redis_available() ? 1 : 0);

        /* the master in use, by its address (one series: Sentinel may
         * switch it) */

        ngx_cms_redis_master(&master);

        if (master.len) {
            ngx_cms_metrics_family(t, "cms_redis_master_info", "gauge",
                                   "the Redis master the answering worker "
                                   "uses (1), by address");
            ngx_cms_metrics_printf(t, "cms_redis_master_info{address=\"");
            ngx_cms_metrics_label(t, master.data, master.len);
            ngx_cms_metrics_printf(t, "\"} 1\n");
        }
    }
    }
}
