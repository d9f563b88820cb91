
/*
 * ngx_cms: "cms_status;" -- the failover state as JSON.
 *
 *   location = /cms-status { cms_status; allow 127.0.0.1; deny all; }
 *
 * For every upstream with cms_bridge: each bridge (health, credentials,
 * last check, latency, failures), the active bridge with its epoch and
 * since when and why, the recent changes, the cluster as discovered,
 * the call map, and Redis's state when Redis is built in.  The zone is
 * copied under the lock and formatted after, so the lock is held for a
 * memcpy, never for formatting.
 */


#include "ngx_cms.h"

#include "ngx_cms_fo_redis.h"
#include "ngx_cms_redis.h"


static ngx_int_t ngx_cms_status_handler(ngx_http_request_t *r);
static void ngx_cms_status_cluster(ngx_cms_json_t *j,
    ngx_cms_fo_cluster_t *cl, ngx_cms_shm_cluster_t *sh, ngx_uint_t detail);
static void ngx_cms_status_bridges(ngx_cms_json_t *j,
    ngx_cms_fo_cluster_t *cl, ngx_cms_shm_cluster_t *sh, ngx_uint_t detail);
static void ngx_cms_status_discovery(ngx_cms_json_t *j,
    ngx_cms_fo_cluster_t *cl, ngx_cms_shm_cluster_t *sh, ngx_uint_t detail);
static void ngx_cms_status_history(ngx_cms_json_t *j,
    ngx_cms_shm_cluster_t *sh);


static const char  *ngx_cms_health_names[] = { "unknown", "up", "down" };
static const char  *ngx_cms_cred_names[] = { "unknown", "ok", "rejected" };


char *
ngx_cms_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_loc_conf_t  *lcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    /*
     * Addresses, pids and error texts (which name addresses) only with
     * "detail": the plain status is for dashboards and monitors, the
     * detailed one for operators.
     */

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (ngx_strcmp(value[1].data, "detail") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": cms_status takes "
                               "nothing or \"detail\" (addresses, pids and "
                               "errors)", &value[1]);
            return NGX_CONF_ERROR;
        }

        lcf->status_detail = 1;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_uint_t               i, detail;
    ngx_cms_json_t           j;
    ngx_cms_fo_cluster_t   **cl;
    ngx_cms_shm_cluster_t   *snap;
    ngx_cms_loc_conf_t      *lcf;
    ngx_cms_fo_main_conf_t  *fmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_cms_failover_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);
    detail = lcf->status_detail;

    if (ngx_cms_json_init_pool(&j, r->pool, 8192) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    snap = ngx_palloc(r->pool, sizeof(ngx_cms_shm_cluster_t));
    if (snap == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cms_json_raw(&j, (u_char *) "{\"version\":1,", 13);
    ngx_cms_json_raw(&j, (u_char *) "\"ngx_cms\":\"" NGX_CMS_VERSION "\",",
                     sizeof("\"ngx_cms\":\"" NGX_CMS_VERSION "\",") - 1);

    if (detail) {
        ngx_cms_json_printf(&j, "\"pid\":%P,", ngx_pid);
    }

    ngx_cms_json_raw(&j, (u_char *) "\"time\":", 7);
    ngx_cms_json_time(&j, ngx_time());
    ngx_cms_json_raw(&j, (u_char *) ",\"upstreams\":[", 14);

    cl = fmcf->clusters.elts;

    for (i = 0; i < fmcf->clusters.nelts; i++) {

        if (cl[i]->sh == NULL) {
            continue;
        }

        ngx_shmtx_lock(&cl[i]->shpool->mutex);
        ngx_memcpy(snap, cl[i]->sh, sizeof(ngx_cms_shm_cluster_t));
        ngx_shmtx_unlock(&cl[i]->shpool->mutex);

        if (i) {
            ngx_cms_json_raw(&j, (u_char *) ",", 1);
        }

        ngx_cms_status_cluster(&j, cl[i], snap, detail);
    }

    ngx_cms_json_raw(&j, (u_char *) "],\"redis\":", 10);

    if (detail) {
        ngx_cms_fo_redis_status(&j, r->pool);

    } else {
        ngx_cms_json_printf(&j, "{\"available\":%s}",
                            ngx_cms_redis_available() ? "true" : "false");
    }

    ngx_cms_json_raw(&j, (u_char *) "}\n", 2);

    return ngx_cms_json_send(r, NGX_HTTP_OK, &j);
}


static void
ngx_cms_status_cluster(ngx_cms_json_t *j, ngx_cms_fo_cluster_t *cl,
    ngx_cms_shm_cluster_t *sh, ngx_uint_t detail)
{
    ngx_cms_shm_change_t  *last;

    last = sh->nchanges
           ? &sh->history[(sh->nchanges - 1) % NGX_CMS_SHM_HISTORY] : NULL;

    ngx_cms_json_raw(j, (u_char *) "{\"name\":", 8);
    ngx_cms_json_string(j, cl->name.data, cl->name.len);

    ngx_cms_json_raw(j, (u_char *) ",\"active\":", 10);
    ngx_cms_json_string(j, sh->bridges[sh->active].name.data,
                        sh->bridges[sh->active].name.len);

    ngx_cms_json_printf(j, ",\"epoch\":%uL,\"manual\":%s,\"since\":",
                        sh->epoch, sh->manual ? "true" : "false");
    ngx_cms_json_time(j, last ? last->at : 0);

    ngx_cms_json_raw(j, (u_char *) ",\"by\":", 6);

    if (last) {
        ngx_cms_json_string(j, last->by.data, last->by.len);
        ngx_cms_json_raw(j, (u_char *) ",\"why\":", 7);
        ngx_cms_json_string(j, last->why.data, last->why.len);

    } else {
        ngx_cms_json_string(j, (u_char *) "configuration", 13);
        ngx_cms_json_raw(j, (u_char *) ",\"why\":", 7);
        ngx_cms_json_string(j, (u_char *) "the primary bridge", 18);
    }

    ngx_cms_json_printf(j, ",\"changes\":%ui", sh->nchanges);

    ngx_cms_json_printf(j, ",\"health_check\":{\"enabled\":%s,"
                        "\"interval_ms\":%M,\"timeout_ms\":%M,"
                        "\"jitter_ms\":%M,\"fall\":%ui,\"rise\":%ui}",
                        cl->health ? "true" : "false", cl->interval,
                        cl->timeout, cl->jitter, cl->fall, cl->rise);

    ngx_cms_json_printf(j, ",\"failback\":{\"mode\":\"%s\",\"hold_ms\":%M}",
                        cl->failback == NGX_CMS_FAILBACK_AUTO
                        ? "auto" : "manual", cl->hold);

    if (detail) {
        ngx_cms_json_printf(j, ",\"checker\":{\"pid\":%P,"
                            "\"generation\":%ui}",
                            sh->owner, sh->owner_generation);
    }

    ngx_cms_json_raw(j, (u_char *) ",\"bridges\":[", 12);
    ngx_cms_status_bridges(j, cl, sh, detail);
    ngx_cms_json_raw(j, (u_char *) "]", 1);

    ngx_cms_json_raw(j, (u_char *) ",\"discovery\":", 13);
    ngx_cms_status_discovery(j, cl, sh, detail);

    ngx_cms_json_raw(j, (u_char *) ",\"redis\":", 9);
    ngx_cms_fo_redis_cluster_status(j, cl);

    ngx_cms_json_printf(j, ",\"calls\":{\"affinity\":%s,\"tracked\":%ui,"
                        "\"evicted\":%ui}",
                        cl->affinity ? "true" : "false", sh->ncalls,
                        sh->calls_evicted);

    ngx_cms_json_raw(j, (u_char *) ",\"history\":[", 12);
    ngx_cms_status_history(j, sh);
    ngx_cms_json_raw(j, (u_char *) "]}", 2);
}


static void
ngx_cms_status_bridges(ngx_cms_json_t *j, ngx_cms_fo_cluster_t *cl,
    ngx_cms_shm_cluster_t *sh, ngx_uint_t detail)
{
    ngx_uint_t             i;
    ngx_cms_bridge_t   *b;
    ngx_cms_shm_bridge_t  *sb;

    for (i = 0; i < cl->bridges.nelts; i++) {
        b = cl->order[i];
        sb = &sh->bridges[b->slot];

        if (i) {
            ngx_cms_json_raw(j, (u_char *) ",", 1);
        }

        ngx_cms_json_raw(j, (u_char *) "{\"name\":", 8);
        ngx_cms_json_string(j, b->name.data, b->name.len);

        if (detail) {
            ngx_cms_json_raw(j, (u_char *) ",\"address\":", 11);
            ngx_cms_json_string(j, b->address.data,
                                b->address.len);
        }

        ngx_cms_json_printf(j, ",\"role\":\"%s\",\"priority\":%ui,"
                            "\"active\":%s,\"health\":\"%s\","
                            "\"credentials\":\"%s\",\"since\":",
                            b->role == NGX_CMS_ROLE_PRIMARY
                            ? "primary" : "backup",
                            b->priority,
                            b->slot == sh->active ? "true" : "false",
                            ngx_cms_health_names[sb->health % 3],
                            ngx_cms_cred_names[sb->credentials % 3]);
        ngx_cms_json_time(j, sb->changed);

        ngx_cms_json_raw(j, (u_char *) ",\"last_check\":", 14);
        ngx_cms_json_time(j, sb->checked);

        ngx_cms_json_printf(j, ",\"last_status\":%ui,\"latency_ms\":%M,"
                            "\"checks\":%ui,\"failures\":%ui,"
                            "\"passive_failures\":%ui,"
                            "\"consecutive_ok\":%ui,"
                            "\"consecutive_failures\":%ui,\"last_error\":",
                            sb->status, sb->latency, sb->checks,
                            sb->failures, sb->passive, sb->ok_run,
                            sb->fail_run);

        if (sb->error.len && !detail) {
            /* error texts name addresses */
            ngx_cms_json_raw(j, (u_char *) "\"(cms_status detail)\"", 21);

        } else if (sb->error.len) {
            ngx_cms_json_string(j, sb->error.data, sb->error.len);

        } else {
            ngx_cms_json_raw(j, (u_char *) "null", 4);
        }

        ngx_cms_json_raw(j, (u_char *) "}", 1);
    }
}


static void
ngx_cms_status_discovery(ngx_cms_json_t *j, ngx_cms_fo_cluster_t *cl,
    ngx_cms_shm_cluster_t *sh, ngx_uint_t detail)
{
    ngx_uint_t                 i, k, n;
    ngx_cms_bridge_t       *b;
    ngx_cms_shm_discovered_t  *d;

    ngx_cms_json_printf(j, "{\"enabled\":%s,\"interval_ms\":%M,\"at\":",
                        (cl->discovery && cl->health) ? "true" : "false",
                        cl->discovery_interval);
    ngx_cms_json_time(j, sh->discovered_at);

    ngx_cms_json_raw(j, (u_char *) ",\"from\":", 8);

    if (sh->discovered_from.len && detail) {
        ngx_cms_json_string(j, sh->discovered_from.data,
                            sh->discovered_from.len);
    } else {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
    }

    ngx_cms_json_raw(j, (u_char *) ",\"error\":", 9);

    if (sh->discovery_error.len && !detail) {
        ngx_cms_json_raw(j, (u_char *) "\"(cms_status detail)\"", 21);

    } else if (sh->discovery_error.len) {
        ngx_cms_json_string(j, sh->discovery_error.data,
                            sh->discovery_error.len);
    } else {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
    }

    /* null until a list was read; false: the bridge is not clustered */

    ngx_cms_json_raw(j, (u_char *) ",\"clustered\":", 13);

    if (sh->discovered_ok) {
        ngx_cms_json_printf(j, "%s", sh->ndiscovered ? "true" : "false");
    } else {
        ngx_cms_json_raw(j, (u_char *) "null", 4);
    }

    ngx_cms_json_raw(j, (u_char *) ",\"bridges\":[", 12);

    for (i = 0; i < sh->ndiscovered; i++) {
        d = &sh->discovered[i];

        ngx_cms_json_raw(j, (u_char *) (i ? ",{\"id\":" : "{\"id\":"),
                         i ? 7 : 6);
        ngx_cms_json_string(j, d->id.data, d->id.len);
        ngx_cms_json_raw(j, (u_char *) ",\"name\":", 8);
        ngx_cms_json_string(j, d->name.data, d->name.len);

        if (detail) {
            ngx_cms_json_raw(j, (u_char *) ",\"address\":", 11);
            ngx_cms_json_string(j, d->address.data, d->address.len);
        }

        ngx_cms_json_raw(j, (u_char *) ",\"configured\":", 14);

        b = (d->slot == NGX_CMS_SHM_NO_SLOT)
            ? NULL : ngx_cms_failover_bridge_by_slot(cl, d->slot);

        if (b) {
            ngx_cms_json_string(j, b->name.data, b->name.len);
        } else {
            ngx_cms_json_raw(j, (u_char *) "null", 4);
        }

        ngx_cms_json_raw(j, (u_char *) "}", 1);
    }

    /* what the cluster has and we do not, by its name there */

    ngx_cms_json_raw(j, (u_char *) "],\"unknown\":[", 13);

    for (i = 0, n = 0; i < sh->ndiscovered; i++) {
        d = &sh->discovered[i];

        if (d->slot != NGX_CMS_SHM_NO_SLOT
            && ngx_cms_failover_bridge_by_slot(cl, d->slot))
        {
            continue;
        }

        if (n++) {
            ngx_cms_json_raw(j, (u_char *) ",", 1);
        }

        ngx_cms_json_string(j, d->name.data, d->name.len);
    }

    /* what we have and the cluster does not, by our name; only once a
     * list was read, by the rule the error log follows */

    ngx_cms_json_raw(j, (u_char *) "],\"missing\":[", 13);

    if (sh->discovered_ok) {
        b = cl->bridges.elts;

        for (k = 0, n = 0; k < cl->bridges.nelts; k++) {

            if (ngx_cms_discovery_has(sh->discovered, sh->ndiscovered,
                                      sh->discovered_via, b[k].slot))
            {
                continue;
            }

            if (n++) {
                ngx_cms_json_raw(j, (u_char *) ",", 1);
            }

            ngx_cms_json_string(j, b[k].name.data,
                                b[k].name.len);
        }
    }

    ngx_cms_json_raw(j, (u_char *) "]}", 2);
}


static void
ngx_cms_status_history(ngx_cms_json_t *j, ngx_cms_shm_cluster_t *sh)
{
    ngx_uint_t             i, n;
    ngx_cms_shm_change_t  *ch;

    n = ngx_min(sh->nchanges, NGX_CMS_SHM_HISTORY);

    /* the most recent first */

    for (i = 0; i < n; i++) {
        ch = &sh->history[(sh->nchanges - 1 - i) % NGX_CMS_SHM_HISTORY];

        ngx_cms_json_printf(j, "%s{\"epoch\":%uL,\"at\":", i ? "," : "",
                            ch->epoch);
        ngx_cms_json_time(j, ch->at);
        ngx_cms_json_raw(j, (u_char *) ",\"from\":", 8);
        ngx_cms_json_string(j, ch->from.data, ch->from.len);
        ngx_cms_json_raw(j, (u_char *) ",\"to\":", 6);
        ngx_cms_json_string(j, ch->to.data, ch->to.len);
        ngx_cms_json_raw(j, (u_char *) ",\"by\":", 6);
        ngx_cms_json_string(j, ch->by.data, ch->by.len);
        ngx_cms_json_raw(j, (u_char *) ",\"why\":", 7);
        ngx_cms_json_string(j, ch->why.data, ch->why.len);
        ngx_cms_json_printf(j, ",\"manual\":%s}",
                            ch->manual ? "true" : "false");
    }
}


/* a JSON answer of ours (status, admin, dashboard data) */

ngx_int_t
ngx_cms_json_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_cms_json_t *j)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (!ngx_cms_json_fits(j)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = j->pos - j->start;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = j->start;
    b->last = j->pos;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
