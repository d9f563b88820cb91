
/*
 * ngx_cms slots plugin: "cms_slots_status;", the slot table as JSON and
 * the admin actions.
 *
 *   GET                      every pool and slot: free, in use by which
 *                            meeting since when, stuck and why
 *   POST ?release=<slot>     force-releases a slot (its placeholder name,
 *                            its index as "<pool>:<index>", or its
 *                            space id): the proxy sends the end-of-
 *                            meeting PUT to CMS itself; answers once CMS
 *                            did
 *   POST ?reconcile          reads the pools from CMS now; answers when
 *                            done
 *
 * Protect the location (allow/deny, auth_basic): it changes CMS.
 */


#include "ngx_cms_slots.h"

#include <ngx_cms_waiter.h>
#include <ngx_cms_json_pool.h>


static ngx_int_t ngx_cms_slots_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_slots_status_json(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_json_t *j);
static ngx_int_t ngx_cms_slots_admin(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf);
static ngx_int_t ngx_cms_slots_answer(ngx_http_request_t *r,
    ngx_uint_t status, ngx_cms_json_t *j);
static ngx_int_t ngx_cms_slots_answer_text(ngx_http_request_t *r,
    ngx_uint_t status, const char *result, ngx_str_t *msg);
static void ngx_cms_slots_admin_done(void *data, ngx_int_t rc,
    ngx_str_t *msg);
static ngx_uint_t ngx_cms_slots_find(ngx_cms_slots_main_conf_t *smcf,
    ngx_str_t *what, ngx_uint_t *pool, long *index);


char *
ngx_cms_slots_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_cms_slots_main_conf_t  *smcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cms_slots_status_handler;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_cms_slots_module);
    smcf->eager = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_slots_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_cms_json_t              j;
    ngx_cms_slots_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_cms_slots_module);

    if (smcf->sh == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_cms_slots_admin(r, smcf);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the answer is up to date even between two timer ticks */
    (void) ngx_cms_slots_stuck_scan(smcf, r->connection->log);

    if (ngx_cms_slots_status_json(r, smcf, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_cms_slots_answer(r, NGX_HTTP_OK, &j);
}


#define ngx_cms_slots_json_str(j, key, s, len)                                \
    ngx_cms_json_raw(j, "\"" key "\":", sizeof(key) + 2);                      \
    ngx_cms_json_string(j, s, len)


static void
ngx_cms_slots_json_time(ngx_cms_json_t *j, const char *key, time_t t)
{
    ngx_cms_json_printf(j, "\"%s\":", key);
    ngx_cms_json_time(j, t);
}


static ngx_int_t
ngx_cms_slots_status_json(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf, ngx_cms_json_t *jp)
{
    u_char                *name;
    size_t                 len;
    time_t                 now;
    uint64_t               now_ms;
    ngx_str_t              redis;
    ngx_uint_t             i, k, in_use, total, stuck, pool_in_use, npools;
    ngx_cms_json_t         j;
    ngx_cms_slots_sh_t    *sh;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    static const char     *why[] = { "", "no_call", "checkin_failed" };

    sh = smcf->sh;
    now = ngx_time();
    now_ms = ngx_cms_slots_now_ms();

    ngx_cms_slots_redis_status(smcf, &redis, r->pool);

    ngx_shmtx_lock(&smcf->shpool->mutex);

    name = ngx_pnalloc(r->pool, NGX_CMS_SLOTS_TEXT_LEN * 2);

    if (name == NULL
        || ngx_cms_json_init_pool(&j, r->pool, 4096 + redis.len) != NGX_OK)
    {
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_ERROR;
    }

    npools = 0;

    in_use = ngx_cms_slots_in_use_locked(smcf, &total);
    stuck = 0;

    ngx_cms_json_printf(&j, "{\"in_use\":%ui,\"total\":%ui,\"utilization\":%ui,"
                        "\"max_meetings\":%ui,\"warn_utilization\":%ui,"
                        "\"warning\":%s,\"stuck_after\":%T,",
                        in_use, total, total ? in_use * 100 / total : 0,
                        smcf->max_meetings, smcf->warn_percent,
                        sh->warned ? "true" : "false", smcf->stuck_after);

    ngx_cms_json_printf(&j, "\"counters\":{\"checkouts\":%ui,\"checkins\":%ui,"
                        "\"conflicts\":%ui,\"refused_limit\":%ui,"
                        "\"released\":%ui,\"corrections\":%ui,"
                        "\"lookalikes\":%ui},",
                        sh->checkouts, sh->checkins, sh->conflicts,
                        sh->refused_limit, sh->released, sh->corrections,
                        sh->lookalikes);

    ngx_cms_json_printf(&j, "\"reconciliation\":{\"running\":%s,",
                        sh->reconciling ? "true" : "false");
    ngx_cms_slots_json_time(&j, "last", sh->reconciled);
    ngx_cms_json_raw(&j, ",", 1);
    ngx_cms_slots_json_str(&j, "error", sh->reconcile_error.data,
                           sh->reconcile_error.len);
    ngx_cms_json_printf(&j, ",\"bridge_client\":%s},",
                        ngx_cms_slots_bridge_available(smcf) ? "true" : "false");

    ngx_cms_json_raw(&j, "\"redis\":", 8);
    ngx_cms_json_raw(&j, redis.data, redis.len);

    ngx_cms_json_raw(&j, ",\"pools\":[", 10);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &sh->pools[i];

        if (!pool->used || (!pool->active && !pool->defined)) {
            continue;
        }

        if (npools++) {
            ngx_cms_json_raw(&j, ",", 1);
        }

        ngx_cms_json_raw(&j, "{", 1);
        ngx_cms_slots_json_str(&j, "id", pool->id.data, pool->id.len);

        pool_in_use = 0;
        for (k = 0; k < pool->nslots; k++) {
            if (pool->slots[k].hold.state != NGX_CMS_SLOT_FREE) {
                pool_in_use++;
            }
        }

        ngx_cms_json_printf(&j, ",\"configured\":%s,\"active\":%s,"
                            "\"generation\":%ui",
                            pool->configured ? "true" : "false",
                            pool->active ? "true" : "false", pool->generation);

        if (pool->active) {
            ngx_cms_json_raw(&j, ",", 1);
            ngx_cms_slots_json_str(&j, "prefix", pool->model.prefix,
                                   pool->model.prefix_len);
            ngx_cms_json_raw(&j, ",", 1);
            ngx_cms_slots_json_str(&j, "suffix", pool->model.suffix,
                                   pool->model.suffix_len);
            ngx_cms_json_printf(&j, ",\"start\":%l,\"end\":%l,\"in_use\":%ui,"
                                "\"free\":%ui,", pool->model.start,
                                pool->model.end, pool_in_use,
                                pool->nslots - pool_in_use);
            ngx_cms_slots_json_time(&j, "synced", pool->synced);
        }

        ngx_cms_json_raw(&j, ",\"slots\":[", 10);

        for (k = 0; k < pool->nslots; k++) {
            slot = &pool->slots[k];

            if (k) {
                ngx_cms_json_raw(&j, ",", 1);
            }

            len = ngx_cms_slot_name(&pool->model, pool->model.start + k,
                                    name, NGX_CMS_SLOTS_TEXT_LEN * 2);

            ngx_cms_json_printf(&j, "{\"index\":%l,", pool->model.start + k);
            ngx_cms_slots_json_str(&j, "name", name, len);
            ngx_cms_json_raw(&j, ",", 1);

            if (slot->space.len) {
                ngx_cms_slots_json_str(&j, "space", slot->space.data,
                                       slot->space.len);
            } else {
                ngx_cms_json_raw(&j, "\"space\":null", 12);
            }

            ngx_cms_json_printf(&j, ",\"state\":\"%s\"",
                                ngx_cms_slot_state_name(slot->hold.state));

            if (slot->res_token && slot->res_until_ms > now_ms) {
                ngx_cms_json_raw(&j, ",\"reserved\":true", 16);
            }

            if (slot->hold.state != NGX_CMS_SLOT_FREE) {
                ngx_cms_json_raw(&j, ",", 1);
                ngx_cms_slots_json_str(&j, "meeting", slot->hold.meeting.data,
                                       slot->hold.meeting.len);
                ngx_cms_json_raw(&j, ",", 1);
                ngx_cms_slots_json_str(&j, "user", slot->hold.user.data,
                                       slot->hold.user.len);
                ngx_cms_json_raw(&j, ",", 1);
                ngx_cms_slots_json_time(&j, "since", slot->hold.since);
                ngx_cms_json_raw(&j, ",", 1);
                ngx_cms_slots_json_time(&j, "extended",
                                        slot->hold.extended);
                ngx_cms_json_printf(&j, ",\"seconds\":%T,",
                                    now - slot->hold.since);

                if (slot->hold.call.len) {
                    ngx_cms_slots_json_str(&j, "call", slot->hold.call.data,
                                           slot->hold.call.len);
                } else {
                    ngx_cms_json_raw(&j, "\"call\":null", 11);
                }
            }

            if (slot->hold.state == NGX_CMS_SLOT_STUCK) {
                stuck++;
                ngx_cms_json_printf(&j, ",\"stuck\":\"%s\"",
                                    slot->hold.stuck <= 2
                                    ? why[slot->hold.stuck] : "");
            }

            ngx_cms_json_raw(&j, "}", 1);
        }

        ngx_cms_json_raw(&j, "]", 1);
        ngx_cms_json_raw(&j, "}", 1);
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    ngx_cms_json_printf(&j, "],\"stuck\":%ui}\n", stuck);

    *jp = j;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_slots_admin(ngx_http_request_t *r, ngx_cms_slots_main_conf_t *smcf)
{
    long                     index;
    ngx_int_t                rc;
    ngx_str_t                value, by, user, err, why;
    ngx_uint_t               n;
    ngx_cms_waiter_t        *w;

    /* the job may outlive the request: it keeps the waiter */

    w = ngx_cms_waiter_create(r, NULL);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "release", 7, &value) == NGX_OK) {

        if (!ngx_cms_slots_find(smcf, &value, &n, &index)) {
            ngx_str_set(&err, "no such slot, or its space is not known");
            return ngx_cms_slots_answer_text(r, NGX_HTTP_NOT_FOUND, "error",
                                             &err);
        }

        /*
         * who: the user nginx verified (never a name read from the raw
         * header), else the address; escaped, as it goes into logs
         */

        ngx_cms_verified_user(r, &user);

        if (user.len) {
            by.data = ngx_pnalloc(r->pool, 3 * user.len);
            if (by.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            by.len = (u_char *) ngx_escape_uri(by.data, user.data, user.len,
                                               NGX_ESCAPE_MAIL_AUTH)
                     - by.data;

        } else {
            by = r->connection->addr_text;
        }

        /*
         * The job may outlive the request (a client that leaves does not
         * stop it): it logs to the worker's log, not the connection's,
         * which goes with the connection's pool.
         */

        rc = ngx_cms_slots_release(smcf, n, index, &by, smcf->log,
                                   ngx_cms_slots_admin_done, w, &err);

    } else if (ngx_http_arg(r, (u_char *) "reconcile", 9, &value) == NGX_OK
               || (r->args.len == 9
                   && ngx_strncmp(r->args.data, "reconcile", 9) == 0))
    {
        ngx_str_set(&why, "admin");
        ngx_str_set(&err, "a reconciliation is running, or there is no "
                          "bridge to ask");

        rc = ngx_cms_slots_reconcile(smcf, smcf->log, &why,
                                     ngx_cms_slots_admin_done, w);

    } else {
        ngx_str_set(&err, "POST ?release=<slot> or ?reconcile");
        return ngx_cms_slots_answer_text(r, NGX_HTTP_BAD_REQUEST, "error",
                                         &err);
    }

    if (rc == NGX_BUSY) {
        return ngx_cms_slots_answer_text(r, NGX_HTTP_CONFLICT, "busy", &err);
    }

    if (rc != NGX_OK) {
        return ngx_cms_slots_answer_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "error", &err);
    }

    /* the answer waits for the bridge's */

    ngx_cms_waiter_wait(w);

    return NGX_DONE;
}


static void
ngx_cms_slots_admin_done(void *data, ngx_int_t rc, ngx_str_t *msg)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ngx_cms_waiter_done(data, NULL);

    if (r == NULL) {
        /* the client left; the work is done all the same */
        return;
    }

    c = r->connection;

    ngx_http_finalize_request(r,
        ngx_cms_slots_answer_text(r, rc == NGX_OK ? NGX_HTTP_OK
                                                  : NGX_HTTP_BAD_GATEWAY,
                                  rc == NGX_OK ? "ok" : "error", msg));

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_cms_slots_answer_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *result, ngx_str_t *msg)
{
    ngx_cms_json_t  j;

    if (ngx_cms_json_init_pool(&j, r->pool, 64 + msg->len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cms_json_printf(&j, "{\"result\":\"%s\",", result);
    ngx_cms_slots_json_str(&j, "message", msg->data, msg->len);
    ngx_cms_json_raw(&j, "}\n", 2);

    return ngx_cms_slots_answer(r, status, &j);
}


static ngx_int_t
ngx_cms_slots_answer(ngx_http_request_t *r, ngx_uint_t status,
    ngx_cms_json_t *j)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    if (!ngx_cms_json_fits(j)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = j->start;
    b->last = j->pos;
    b->memory = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* a slot by placeholder name, "<pool>:<index>" or space id */

static ngx_uint_t
ngx_cms_slots_find(ngx_cms_slots_main_conf_t *smcf, ngx_str_t *what,
    ngx_uint_t *npool, long *index)
{
    u_char                *colon, *dst, *src;
    ngx_str_t              v;
    ngx_uint_t             i, found;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    /* the argument is still escaped */

    dst = ngx_alloc(what->len + 1, smcf->log);
    if (dst == NULL) {
        return 0;
    }

    v.data = dst;
    src = what->data;
    ngx_unescape_uri(&dst, &src, what->len, NGX_UNESCAPE_URI);
    v.len = dst - v.data;

    found = 0;

    ngx_shmtx_lock(&smcf->shpool->mutex);

    slot = ngx_cms_slots_by_space_locked(smcf, v.data, v.len, npool, index);
    if (slot) {
        found = 1;
        goto done;
    }

    colon = ngx_strlchr(v.data, v.data + v.len, ':');

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &smcf->sh->pools[i];

        if (!pool->used || !pool->active) {
            continue;
        }

        if (colon && (size_t) (colon - v.data) == pool->id.len
            && ngx_strncmp(v.data, pool->id.data, pool->id.len) == 0)
        {
            *index = ngx_cms_slot_parse_index(colon + 1,
                                              v.data + v.len - colon - 1);

        } else {
            *index = ngx_cms_slot_index(&pool->model, v.data, v.len);
        }

        if (*index >= pool->model.start && *index <= pool->model.end) {
            *npool = i;
            found = 1;
            break;
        }
    }

done:

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    ngx_free(v.data);

    return found;
}
