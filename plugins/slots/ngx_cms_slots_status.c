
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


static ngx_int_t ngx_cms_slots_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_slots_status_json(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf, ngx_buf_t **out);
static ngx_int_t ngx_cms_slots_admin(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf);
static ngx_int_t ngx_cms_slots_answer(ngx_http_request_t *r,
    ngx_uint_t status, ngx_buf_t *b);
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
    ngx_buf_t                  *b;
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

    if (ngx_cms_slots_status_json(r, smcf, &b) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_cms_slots_answer(r, NGX_HTTP_OK, b);
}


#define ngx_cms_slots_json_str(p, key, s, len)                                \
    p = ngx_cpymem(p, "\"" key "\":\"", sizeof(key) + 3);                     \
    p = ngx_cms_json_escape_utf8(p, s, len);                                \
    *p++ = '"'


static u_char *
ngx_cms_slots_json_time(u_char *p, const char *key, time_t t)
{
    ngx_tm_t  tm;

    if (t == 0) {
        return ngx_sprintf(p, "\"%s\":null", key);
    }

    ngx_gmtime(t, &tm);

    return ngx_sprintf(p, "\"%s\":\"%4d-%02d-%02dT%02d:%02d:%02dZ\"", key,
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


static ngx_int_t
ngx_cms_slots_status_json(ngx_http_request_t *r,
    ngx_cms_slots_main_conf_t *smcf, ngx_buf_t **out)
{
    u_char                *p, *name;
    size_t                 size, len;
    time_t                 now;
    uint64_t               now_ms;
    ngx_buf_t             *b;
    ngx_str_t              redis;
    ngx_uint_t             i, j, in_use, total, stuck, pool_in_use;
    ngx_cms_slots_sh_t    *sh;
    ngx_cms_slots_pool_t  *pool;
    ngx_cms_slots_slot_t  *slot;

    static const char     *why[] = { "", "no_call", "checkin_failed" };

    sh = smcf->sh;
    now = ngx_time();
    now_ms = ngx_cms_slots_now_ms();

    ngx_cms_slots_redis_status(smcf, &redis, r->pool);

    ngx_shmtx_lock(&smcf->shpool->mutex);

    /* room for the worst case: every text escaped to 6 bytes a byte */

    size = 1024 + redis.len;

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &sh->pools[i];

        if (pool->used) {
            size += 1024 + 6 * (2 * NGX_CMS_SLOT_AFFIX_MAX
                                + NGX_CMS_SLOTS_ID_LEN)
                    + pool->nslots * (512 + 6 * (NGX_CMS_SLOTS_TEXT_LEN * 2
                                                 + NGX_CMS_SLOTS_USER_LEN
                                                 + 3 * NGX_CMS_SLOTS_ID_LEN));
        }
    }

    b = ngx_create_temp_buf(r->pool, size);
    name = ngx_pnalloc(r->pool, NGX_CMS_SLOTS_TEXT_LEN * 2);

    if (b == NULL || name == NULL) {
        ngx_shmtx_unlock(&smcf->shpool->mutex);
        return NGX_ERROR;
    }

    p = b->last;

    in_use = ngx_cms_slots_in_use_locked(smcf, &total);
    stuck = 0;

    p = ngx_sprintf(p, "{\"in_use\":%ui,\"total\":%ui,\"utilization\":%ui,"
                    "\"max_meetings\":%ui,\"warn_utilization\":%ui,"
                    "\"warning\":%s,\"stuck_after\":%T,",
                    in_use, total, total ? in_use * 100 / total : 0,
                    smcf->max_meetings, smcf->warn_percent,
                    sh->warned ? "true" : "false", smcf->stuck_after);

    p = ngx_sprintf(p, "\"counters\":{\"checkouts\":%ui,\"checkins\":%ui,"
                    "\"conflicts\":%ui,\"refused_limit\":%ui,"
                    "\"released\":%ui,\"corrections\":%ui,"
                    "\"lookalikes\":%ui},",
                    sh->checkouts, sh->checkins, sh->conflicts,
                    sh->refused_limit, sh->released, sh->corrections,
                    sh->lookalikes);

    p = ngx_sprintf(p, "\"reconciliation\":{\"running\":%s,",
                    sh->reconciling ? "true" : "false");
    p = ngx_cms_slots_json_time(p, "last", sh->reconciled);
    *p++ = ',';
    ngx_cms_slots_json_str(p, "error", sh->reconcile_error.data,
                           sh->reconcile_error.len);
    p = ngx_sprintf(p, ",\"bridge_client\":%s},",
                    ngx_cms_slots_bridge_available(smcf) ? "true" : "false");

    p = ngx_cpymem(p, "\"redis\":", 8);
    p = ngx_cpymem(p, redis.data, redis.len);

    p = ngx_cpymem(p, ",\"pools\":[", 10);

    for (i = 0; i < NGX_CMS_SLOTS_MAX_POOLS; i++) {
        pool = &sh->pools[i];

        if (!pool->used || (!pool->active && !pool->defined)) {
            continue;
        }

        if (p[-1] == '}') {
            *p++ = ',';
        }

        *p++ = '{';
        ngx_cms_slots_json_str(p, "id", pool->id.data, pool->id.len);

        pool_in_use = 0;
        for (j = 0; j < pool->nslots; j++) {
            if (pool->slots[j].hold.state != NGX_CMS_SLOT_FREE) {
                pool_in_use++;
            }
        }

        p = ngx_sprintf(p, ",\"configured\":%s,\"active\":%s,"
                        "\"generation\":%ui",
                        pool->configured ? "true" : "false",
                        pool->active ? "true" : "false", pool->generation);

        if (pool->active) {
            *p++ = ',';
            ngx_cms_slots_json_str(p, "prefix", pool->model.prefix,
                                   pool->model.prefix_len);
            *p++ = ',';
            ngx_cms_slots_json_str(p, "suffix", pool->model.suffix,
                                   pool->model.suffix_len);
            p = ngx_sprintf(p, ",\"start\":%l,\"end\":%l,\"in_use\":%ui,"
                            "\"free\":%ui,", pool->model.start,
                            pool->model.end, pool_in_use,
                            pool->nslots - pool_in_use);
            p = ngx_cms_slots_json_time(p, "synced", pool->synced);
        }

        p = ngx_cpymem(p, ",\"slots\":[", 10);

        for (j = 0; j < pool->nslots; j++) {
            slot = &pool->slots[j];

            if (j) {
                *p++ = ',';
            }

            len = ngx_cms_slot_name(&pool->model, pool->model.start + j,
                                    name, NGX_CMS_SLOTS_TEXT_LEN * 2);

            p = ngx_sprintf(p, "{\"index\":%l,", pool->model.start + j);
            ngx_cms_slots_json_str(p, "name", name, len);
            *p++ = ',';

            if (slot->space.len) {
                ngx_cms_slots_json_str(p, "space", slot->space.data,
                                       slot->space.len);
            } else {
                p = ngx_cpymem(p, "\"space\":null", 12);
            }

            p = ngx_sprintf(p, ",\"state\":\"%s\"",
                            ngx_cms_slot_state_name(slot->hold.state));

            if (slot->res_token && slot->res_until_ms > now_ms) {
                p = ngx_cpymem(p, ",\"reserved\":true", 16);
            }

            if (slot->hold.state != NGX_CMS_SLOT_FREE) {
                *p++ = ',';
                ngx_cms_slots_json_str(p, "meeting", slot->hold.meeting.data,
                                       slot->hold.meeting.len);
                *p++ = ',';
                ngx_cms_slots_json_str(p, "user", slot->hold.user.data,
                                       slot->hold.user.len);
                *p++ = ',';
                p = ngx_cms_slots_json_time(p, "since", slot->hold.since);
                *p++ = ',';
                p = ngx_cms_slots_json_time(p, "extended",
                                            slot->hold.extended);
                p = ngx_sprintf(p, ",\"seconds\":%T,",
                                now - slot->hold.since);

                if (slot->hold.call.len) {
                    ngx_cms_slots_json_str(p, "call", slot->hold.call.data,
                                           slot->hold.call.len);
                } else {
                    p = ngx_cpymem(p, "\"call\":null", 11);
                }
            }

            if (slot->hold.state == NGX_CMS_SLOT_STUCK) {
                stuck++;
                p = ngx_sprintf(p, ",\"stuck\":\"%s\"",
                                slot->hold.stuck <= 2
                                ? why[slot->hold.stuck] : "");
            }

            *p++ = '}';
        }

        *p++ = ']';
        *p++ = '}';
    }

    ngx_shmtx_unlock(&smcf->shpool->mutex);

    p = ngx_sprintf(p, "],\"stuck\":%ui}\n", stuck);

    b->last = p;
    *out = b;

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
    u_char     *p;
    ngx_buf_t  *b;

    b = ngx_create_temp_buf(r->pool, 64 + 6 * msg->len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->last, "{\"result\":\"%s\",", result);
    ngx_cms_slots_json_str(p, "message", msg->data, msg->len);
    *p++ = '}';
    *p++ = LF;
    b->last = p;

    return ngx_cms_slots_answer(r, status, b);
}


static ngx_int_t
ngx_cms_slots_answer(ngx_http_request_t *r, ngx_uint_t status, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

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
