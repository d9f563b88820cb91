
/*
 * ngx_cms slots: the slot table's families in "cms_metrics" (the core's
 * Prometheus answer): pool size, in use, free, stuck, utilization and
 * the all-time counters, read from the zone under its lock at scrape
 * time.  Nothing is added to the request path.
 */


#include "ngx_cms_slots.h"
#include "ngx_cms_metrics.h"


static void ngx_cms_slots_metrics(ngx_cms_metrics_text_t *t, void *data);


ngx_int_t
ngx_cms_slots_metrics_init(ngx_conf_t *cf, ngx_cms_slots_main_conf_t *smcf)
{
    return ngx_cms_metrics_collector(cf, ngx_cms_slots_metrics, smcf);
}


static void
ngx_cms_slots_metrics(ngx_cms_metrics_text_t *t, void *data)
{
    ngx_cms_slots_main_conf_t  *smcf = data;

    time_t                 reconciled;
    ngx_uint_t             i, j, in_use, total, stuck, held;
    ngx_cms_slots_sh_t    *sh, counters;
    ngx_cms_slots_pool_t  *pool;

    sh = smcf->sh;

    if (sh == NULL) {
        return;
    }

    stuck = 0;
    held = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    in_use = ngx_cms_slots_in_use_locked(smcf, &total);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &sh->pools[i];

        if (!pool->used || !pool->active) {
            continue;
        }

        for (j = 0; j < pool->nslots; j++) {
            if (pool->slots[j].hold.state == NGX_CMS_SLOT_STUCK) {
                stuck++;
            }

            if (pool->slots[j].hold.state != NGX_CMS_SLOT_FREE) {
                held++;
            }
        }
    }

    counters.checkouts = sh->checkouts;
    counters.checkins = sh->checkins;
    counters.conflicts = sh->conflicts;
    counters.refused_limit = sh->refused_limit;
    counters.released = sh->released;
    counters.corrections = sh->corrections;
    counters.lookalikes = sh->lookalikes;
    counters.reconciling = sh->reconciling;
    reconciled = sh->reconciled;

    ngx_shmtx_unlock(&smcf->shpool->mutex);

#define ngx_cms_slots_metric(name, type, help, fmt, v)                        \
    ngx_cms_metrics_family(t, name, type, help);                              \
    ngx_cms_metrics_printf(t, name " " fmt "\n", v)

    ngx_cms_slots_metric("cms_slots_pool_size", "gauge",
                         "scheduled-meeting slots in the active pools",
                         "%ui", total);
    ngx_cms_slots_metric("cms_slots_in_use", "gauge",
                         "slots held by a meeting or reserved", "%ui",
                         in_use);
    ngx_cms_slots_metric("cms_slots_held", "gauge",
                         "slots held by a meeting (stuck ones included)",
                         "%ui", held);
    ngx_cms_slots_metric("cms_slots_free", "gauge", "slots free", "%ui",
                         total - in_use);
    ngx_cms_slots_metric("cms_slots_stuck", "gauge",
                         "slots held with no call, or whose check-in failed",
                         "%ui", stuck);
    ngx_cms_metrics_family(t, "cms_slots_utilization_ratio", "gauge",
                           "slots in use over slots (0 when none)");
    ngx_cms_metrics_printf(t, "cms_slots_utilization_ratio %ui.%03ui\n",
                           total ? in_use / total : 0,
                           total ? (in_use * 1000 / total) % 1000 : 0);
    ngx_cms_slots_metric("cms_slots_max_meetings", "gauge",
                         "the configured cap of concurrent meetings "
                         "(0: none)", "%ui", smcf->max_meetings);
    ngx_cms_slots_metric("cms_slots_checkouts_total", "counter",
                         "slots checked out", "%ui", counters.checkouts);
    ngx_cms_slots_metric("cms_slots_checkins_total", "counter",
                         "slots checked in", "%ui", counters.checkins);
    ngx_cms_slots_metric("cms_slots_conflicts_total", "counter",
                         "check-outs refused: the slot was held",
                         "%ui", counters.conflicts);
    ngx_cms_slots_metric("cms_slots_refused_limit_total", "counter",
                         "check-outs refused: the meeting cap was reached",
                         "%ui", counters.refused_limit);
    ngx_cms_slots_metric("cms_slots_released_total", "counter",
                         "stuck slots released by an operator", "%ui",
                         counters.released);
    ngx_cms_slots_metric("cms_slots_corrections_total", "counter",
                         "slot states reconciliation corrected", "%ui",
                         counters.corrections);
    ngx_cms_slots_metric("cms_slots_lookalikes_total", "counter",
                         "spaces named like a slot that are another space",
                         "%ui", counters.lookalikes);
    ngx_cms_slots_metric("cms_slots_reconciling", "gauge",
                         "1 while a reconciliation runs", "%ui",
                         counters.reconciling ? 1 : 0);
    ngx_cms_slots_metric("cms_slots_reconcile_last_timestamp_seconds",
                         "gauge", "when reconciliation last finished "
                         "(0: never)", "%T", reconciled);

#undef ngx_cms_slots_metric
}
