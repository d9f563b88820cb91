
/*
 * ngx_cms: the bridges as targets for a plugin's own requests
 * (include/ngx_cms_bridge.h), from the failover module's view of each
 * cluster: the same addresses, credentials and TLS as the health checks,
 * and the active bridge as every worker agrees on it.
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_bridge.h"


static ngx_cms_fo_cluster_t *
ngx_cms_bridge_cluster(ngx_str_t *upstream)
{
    ngx_cms_fo_cluster_t    **cl;
    ngx_cms_fo_main_conf_t   *fmcf;

    if (upstream != NULL && upstream->len) {
        return ngx_cms_failover_cluster((ngx_cycle_t *) ngx_cycle, upstream);
    }

    fmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_cms_failover_module);
    if (fmcf == NULL || fmcf->clusters.nelts == 0) {
        return NULL;
    }

    cl = fmcf->clusters.elts;

    return cl[0];
}


ngx_uint_t
ngx_cms_bridge_targets(ngx_str_t *upstream, ngx_uint_t which,
    ngx_cms_bridge_target_t *out, ngx_uint_t max, ngx_msec_t timeout,
    size_t max_response, ngx_log_t *log)
{
    ngx_uint_t             i, n;
    ngx_cms_bridge_t   *b;
    ngx_cms_fo_cluster_t  *cl;

    cl = ngx_cms_bridge_cluster(upstream);

    if (cl == NULL || cl->bridges.nelts == 0 || max == 0) {
        return 0;
    }

    n = 0;

    for (i = 0; i < cl->bridges.nelts && n < max; i++) {

        if (which == NGX_CMS_BRIDGE_ACTIVE) {
            /* before the zone is there: the first by priority */
            b = cl->sh ? ngx_cms_failover_bridge_by_slot(cl, cl->sh->active)
                       : cl->order[0];
            if (b == NULL) {
                return 0;
            }

        } else {
            b = cl->order[i];
        }

        out[n].name = b->name;
        out[n].target = b->target;
        out[n].target.timeout = timeout;
        out[n].target.max_response = max_response;
        out[n].target.log = log;
        n++;

        if (which == NGX_CMS_BRIDGE_ACTIVE) {
            break;
        }
    }

    return n;
}


/*
 * A call, call leg or participant lives on this bridge: the call
 * affinity map learns it as from an answer, and tells the other
 * instances (through Redis) if it is news.
 */

ngx_int_t
ngx_cms_bridge_hosts(ngx_str_t *upstream, ngx_str_t *bridge, ngx_str_t *id)
{
    ngx_uint_t             i;
    ngx_cms_bridge_t      *b;
    ngx_cms_fo_cluster_t  *cl;

    cl = ngx_cms_bridge_cluster(upstream);

    if (cl == NULL || !cl->affinity || cl->sh == NULL || id->len == 0) {
        return NGX_DECLINED;
    }

    for (i = 0; i < cl->bridges.nelts; i++) {
        b = cl->order[i];

        if (b->name.len == bridge->len
            && ngx_strncmp(b->name.data, bridge->data, bridge->len) == 0)
        {
            ngx_cms_affinity_learn(cl, id->data, id->len, b->slot, 1);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
