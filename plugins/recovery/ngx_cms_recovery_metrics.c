
/*
 * ngx_cms recovery plugin: its families in "cms_metrics" (the core's
 * Prometheus answer), read from the zone under its lock at scrape time:
 * the recoveries run, the calls and dial-outs re-made or not, the
 * meetings kept and those left out, the old ids translated.  Nothing is
 * added to the request path.
 */


#include "ngx_cms_recovery.h"
#include "ngx_cms_metrics.h"


static void ngx_cms_rec_metrics(ngx_cms_metrics_text_t *t, void *data);


ngx_int_t
ngx_cms_rec_metrics_init(ngx_conf_t *cf, ngx_cms_rec_main_conf_t *rmcf)
{
    return ngx_cms_metrics_collector(cf, ngx_cms_rec_metrics, rmcf);
}


static void
ngx_cms_rec_metrics(ngx_cms_metrics_text_t *t, void *data)
{
    ngx_cms_rec_main_conf_t  *rmcf = data;

    ngx_uint_t         maps;
    ngx_cms_rec_sh_t  *sh;

    /* the counters only (the zone's struct holds the meetings too) */
    struct {
        ngx_uint_t     tracked, full, skipped_role, runs, recovered;
        ngx_uint_t     failed, skipped, legs, legs_failed, translated;
    } c;

    sh = rmcf->sh;

    if (!rmcf->enable || sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    c.tracked = sh->tracked;
    c.full = sh->full;
    c.skipped_role = sh->skipped_role;
    c.runs = sh->runs;
    c.recovered = sh->recovered;
    c.failed = sh->failed;
    c.skipped = sh->skipped;
    c.legs = sh->legs;
    c.legs_failed = sh->legs_failed;
    c.translated = sh->translated;
    maps = sh->maps_used;

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

#define ngx_cms_rec_metric(name, type, help, v)                               \
    ngx_cms_metrics_family(t, name, type, help);                              \
    ngx_cms_metrics_printf(t, name " %ui\n", v)

    ngx_cms_rec_metric("cms_recovery_runs_total", "counter",
                       "recoveries started after a bridge died (this "
                       "instance's)", c.runs);

    ngx_cms_metrics_family(t, "cms_recovery_calls_total", "counter",
                           "calls of a dead bridge, by outcome: re-created "
                           "on the new one, failed, skipped (ended "
                           "meanwhile)");
    ngx_cms_metrics_printf(t, "cms_recovery_calls_total{outcome=\"recovered\"}"
                           " %ui\n", c.recovered);
    ngx_cms_metrics_printf(t, "cms_recovery_calls_total{outcome=\"failed\"}"
                           " %ui\n", c.failed);
    ngx_cms_metrics_printf(t, "cms_recovery_calls_total{outcome=\"skipped\"}"
                           " %ui\n", c.skipped);

    ngx_cms_metrics_family(t, "cms_recovery_legs_total", "counter",
                           "dial-outs of recovered calls, by outcome");
    ngx_cms_metrics_printf(t, "cms_recovery_legs_total{outcome=\"redialled\"}"
                           " %ui\n", c.legs);
    ngx_cms_metrics_printf(t, "cms_recovery_legs_total{outcome=\"failed\"}"
                           " %ui\n", c.legs_failed);

    ngx_cms_rec_metric("cms_recovery_meetings_kept", "gauge",
                       "meetings kept for recovery in this instance's zone",
                       c.tracked);

    ngx_cms_metrics_family(t, "cms_recovery_not_kept_total", "counter",
                           "calls not kept for recovery: no room "
                           "(cms_recover_calls max=), or made by a role "
                           "opted out (cms_recover_calls_skip_role)");
    ngx_cms_metrics_printf(t, "cms_recovery_not_kept_total{reason=\"full\"}"
                           " %ui\n", c.full);
    ngx_cms_metrics_printf(t, "cms_recovery_not_kept_total{reason=\"role\"}"
                           " %ui\n", c.skipped_role);

    ngx_cms_rec_metric("cms_recovery_id_maps", "gauge",
                       "old call and dial-out ids mapped to new ones",
                       maps);
    ngx_cms_rec_metric("cms_recovery_translated_total", "counter",
                       "requests and answers whose old ids were translated",
                       c.translated);
}
