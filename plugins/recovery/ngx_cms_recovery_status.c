
/*
 * ngx_cms recovery plugin: "cms_recovery_status;" in a location answers
 * this instance's view as JSON: the counters of every recovery so far
 * and the meetings kept, each with the id the client got ("first"), the
 * id it has now, its coSpace, bridge and number of dial-outs; and the
 * latest old ids mapped to new ones (NGX_CMS_REC_STATUS_MAPS of them,
 * newest first) with the number of requests and answers translated.
 * No body is shown (a dial-out's may hold a PIN).  Operators only, as
 * cms_status detail.
 */


#include "ngx_cms_recovery.h"

#include <ngx_cms_json_pool.h>


#define NGX_CMS_REC_STATUS_MAPS  256


static ngx_int_t ngx_cms_rec_status_handler(ngx_http_request_t *r);


char *
ngx_cms_rec_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_rec_status_handler;

    return NGX_CONF_OK;
}


static void
ngx_cms_rec_status_id(ngx_cms_json_t *j, const char *key,
    ngx_cms_rec_id_t *id)
{
    ngx_cms_json_printf(j, ",\"%s\":", key);
    ngx_cms_json_string(j, id->data, id->len);
}


static ngx_int_t
ngx_cms_rec_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_cms_json_t            j;
    ngx_buf_t                *b;
    ngx_uint_t                i, n;
    ngx_chain_t               out;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_map_t        *mp;
    ngx_cms_rec_meeting_t    *m;
    ngx_cms_rec_main_conf_t  *rmcf;

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_cms_rec_conf();

    if (ngx_cms_json_init_pool(&j, r->pool, 4096) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rmcf == NULL) {
        ngx_cms_json_raw(&j, "{\"enabled\":false}\n", 18);
        goto send;
    }

    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    ngx_cms_json_printf(&j, "{\"enabled\":true,\"redis\":%s,\"max_calls\":%ui,"
                        "\"tracked\":%ui,\"not_tracked_full\":%ui,"
                        "\"not_tracked_role\":%ui,\"runs\":%ui,"
                        "\"recovered\":%ui,\"failed\":%ui,\"skipped\":%ui,"
                        "\"legs\":%ui,\"legs_failed\":%ui,\"translated\":%ui,"
                        "\"maps_kept\":%ui,\"meetings\":[",
                        rmcf->script ? "true" : "false", sh->max, sh->tracked,
                        sh->full, sh->skipped_role, sh->runs, sh->recovered,
                        sh->failed, sh->skipped, sh->legs, sh->legs_failed,
                        sh->translated, sh->maps_used);

    for (i = 0, n = 0; i < sh->max; i++) {
        m = &sh->m[i];

        if (!m->used) {
            continue;
        }

        ngx_cms_json_printf(&j, "%s{\"since\":%T,\"legs\":%ui,"
                            "\"recoveries\":%ui", n++ ? "," : "", m->since,
                            m->nlegs, m->recoveries);
        ngx_cms_rec_status_id(&j, "call", &m->call);
        ngx_cms_rec_status_id(&j, "first", &m->first);
        ngx_cms_rec_status_id(&j, "coSpace", &m->space);
        ngx_cms_rec_status_id(&j, "bridge", &m->bridge);
        ngx_cms_json_raw(&j, "}", 1);
    }

    ngx_cms_json_raw(&j, "],\"maps\":[", 10);

    /* the newest first: the ring backwards from its next slot */

    for (i = 0; i < ngx_min(sh->maps_used, NGX_CMS_REC_STATUS_MAPS); i++) {
        mp = &sh->maps[(sh->maps_next - 1 - i) % sh->maps_max];

        ngx_cms_json_printf(&j, "%s{\"since\":%T", i ? "," : "", mp->since);
        ngx_cms_rec_status_id(&j, "old", &mp->old);
        ngx_cms_rec_status_id(&j, "now", &mp->now);
        ngx_cms_json_raw(&j, "}", 1);
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    ngx_cms_json_raw(&j, "]}\n", 3);

send:

    if (!ngx_cms_json_fits(&j)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = j.start;
    b->last = j.pos;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
