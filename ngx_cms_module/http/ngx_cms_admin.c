
/*
 * ngx_cms: "cms_admin;" -- manual failover and failback.
 *
 *   location /cms-admin/ {
 *       cms_admin [<upstream>];
 *       allow 10.0.0.0/8; deny all;         # or auth_basic, or both
 *   }
 *
 *   POST /cms-admin/failover?to=core2[&upstream=cms][&force=1][&reason=..]
 *   POST /cms-admin/failback[?upstream=cms]
 *
 * The upstream is the one named in the directive, else ?upstream=, else
 * the only one there is.
 *
 * A manual failover pins the chosen bridge: no automatic failback moves
 * away from it (a dead pinned bridge is still failed over from, for
 * safety).  Failback makes the primary active again and unpins.  A
 * bridge known to be down is refused (409) unless force=1.  Access
 * control is nginx's own; the operator (remote user and address) is
 * recorded as "by" in the change.  The change goes through the same
 * path as an automatic one: epoch, log, event, Redis.
 */


#include "ngx_cms.h"
#include "ngx_cms_waiter.h"


static ngx_int_t ngx_cms_admin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_cms_admin_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
static void ngx_cms_admin_done(void *data, ngx_int_t rc,
    ngx_cms_shm_change_t *result);
static ngx_int_t ngx_cms_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ngx_str_t *arg);


/*
 * In the request's pool: the answer may come from Redis after the client
 * has gone, so the proposal's callback gets the waiter, which says
 * whether the request (and this) is still there.
 */

typedef struct {
    ngx_cms_fo_cluster_t      *cluster;
    const char                *action;
    unsigned                   in_handler:1;
} ngx_cms_admin_ctx_t;


char *
ngx_cms_admin_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_loc_conf_t  *lcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_cms_admin_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_cms_admin_handler;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;
        lcf->admin_upstream = value[1];
    }

    return NGX_CONF_OK;
}


/*
 * An argument, percent-decoded: bridge names may be UTF-8, and the
 * reason is text.  Control bytes (a decoded %0A) would forge log lines:
 * they become spaces.
 */

static ngx_int_t
ngx_cms_admin_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char  *src, *dst, *p;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), value) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, value->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    src = value->data;
    p = dst;
    ngx_unescape_uri(&p, &src, value->len, NGX_UNESCAPE_URI);

    value->data = dst;
    value->len = p - dst;

    for (p = dst; p < dst + value->len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_admin_handler(ngx_http_request_t *r)
{
    u_char                 *p, *last;
    ngx_int_t               rc;
    ngx_str_t               action, upstream, to, force, reason, user;
    ngx_uint_t              health, failover;
    ngx_cms_waiter_t       *w;
    ngx_cms_admin_ctx_t    *actx;
    ngx_cms_bridge_t    *b;
    ngx_cms_loc_conf_t     *lcf;
    ngx_cms_fo_cluster_t   *cl;
    ngx_cms_fo_proposal_t   prop;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the action is the last segment of the path */

    last = r->uri.data + r->uri.len;

    while (last > r->uri.data && last[-1] == '/') {
        last--;
    }

    for (p = last; p > r->uri.data && p[-1] != '/'; p--) {
        /* void */
    }

    action.data = p;
    action.len = last - p;

    if (action.len == 8 && ngx_strncmp(action.data, "failover", 8) == 0) {
        failover = 1;

    } else if (action.len == 8
               && ngx_strncmp(action.data, "failback", 8) == 0)
    {
        failover = 0;

    } else {
        return ngx_cms_admin_error(r, NGX_HTTP_NOT_FOUND,
                                   "unknown action \"%V\", use failover or "
                                   "failback", &action);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    upstream = lcf->admin_upstream;

    if (upstream.len == 0) {
        (void) ngx_cms_admin_arg(r, "upstream", &upstream);
    }

    cl = ngx_cms_failover_cluster((ngx_cycle_t *) ngx_cycle, &upstream);

    if (cl == NULL || cl->sh == NULL) {
        return ngx_cms_admin_error(r, NGX_HTTP_NOT_FOUND,
                                   "no such upstream \"%V\" (name it with "
                                   "?upstream= when there are several)",
                                   &upstream);
    }

    if (failover) {
        if (ngx_cms_admin_arg(r, "to", &to) != NGX_OK
            || to.len == 0)
        {
            return ngx_cms_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                       "failover needs ?to=<bridge>", NULL);
        }

        b = ngx_cms_failover_bridge_by_name(cl, to.data, to.len);

        if (b == NULL) {
            return ngx_cms_admin_error(r, NGX_HTTP_NOT_FOUND,
                                       "no bridge \"%V\" in this upstream",
                                       &to);
        }

    } else {
        b = ((ngx_cms_bridge_t *) cl->bridges.elts) + cl->primary;
    }

    ngx_str_null(&force);
    (void) ngx_http_arg(r, (u_char *) "force", 5, &force);

    ngx_shmtx_lock(&cl->shpool->mutex);
    health = cl->sh->bridges[b->slot].health;
    prop.epoch = cl->sh->epoch;
    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (health == NGX_CMS_HEALTH_DOWN
        && !(force.len == 1 && force.data[0] == '1'))
    {
        return ngx_cms_admin_error(r, NGX_HTTP_CONFLICT,
                                   "bridge \"%V\" is down (add force=1 to "
                                   "insist)", &b->name);
    }

    prop.to = b->slot;
    prop.manual = failover;

    /*
     * who: the user nginx verified, if any, and the address; the name
     * goes into logs and the status, so no byte of it may forge a line
     */

    ngx_cms_verified_user(r, &user);

    p = prop.by.data;
    last = prop.by.data + NGX_CMS_SHM_NAME_LEN;

    if (user.len) {
        p = ngx_slprintf(p, last, "admin:");

        if ((size_t) (last - p) >= 3 * user.len) {
            p = (u_char *) ngx_escape_uri(p, user.data, user.len,
                                          NGX_ESCAPE_MAIL_AUTH);
        }

        p = ngx_slprintf(p, last, "@%V", &r->connection->addr_text);

    } else {
        p = ngx_slprintf(p, last, "admin@%V", &r->connection->addr_text);
    }

    prop.by.len = p - prop.by.data;

    ngx_str_null(&reason);
    (void) ngx_cms_admin_arg(r, "reason", &reason);

    p = ngx_snprintf(prop.why.data, NGX_CMS_SHM_TEXT_LEN, "manual %s",
                     failover ? "failover" : "failback");

    if (reason.len) {
        p = ngx_snprintf(p, prop.why.data + NGX_CMS_SHM_TEXT_LEN - p, ": %V",
                         &reason);
    }

    prop.why.len = p - prop.why.data;

    /*
     * With Redis the answer comes later: the request waits, and the
     * waiter makes sure a late answer finds no request that has gone.
     * It may also come at once, from inside the proposal.
     */

    actx = ngx_palloc(r->pool, sizeof(ngx_cms_admin_ctx_t));
    if (actx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    actx->cluster = cl;
    actx->action = failover ? "failover" : "failback";
    actx->in_handler = 1;

    w = ngx_cms_waiter_create(r, actx);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cms_waiter_wait(w);

    ngx_cms_failover_propose(cl, &prop, ngx_cms_admin_done, w);

    /* what is left of the request still needs actx, if it is there */

    actx->in_handler = 0;

    return NGX_DONE;
}


static void
ngx_cms_admin_done(void *data, ngx_int_t rc, ngx_cms_shm_change_t *result)
{
    ngx_uint_t            status, later;
    const char           *outcome;
    ngx_cms_json_t        j;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_cms_admin_ctx_t  *actx;

    r = ngx_cms_waiter_done(data, (void **) &actx);

    if (r == NULL) {
        /* the client left; the change was made all the same */
        return;
    }

    /* from inside the handler, the handler's caller runs what is posted */
    later = !actx->in_handler;

    c = r->connection;

    switch (rc) {

    case NGX_OK:
        status = NGX_HTTP_OK;
        outcome = "changed";
        break;

    case NGX_DONE:
        status = NGX_HTTP_OK;
        outcome = "unchanged";
        break;

    case NGX_DECLINED:
        status = NGX_HTTP_CONFLICT;
        outcome = "conflict";
        break;

    default:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        outcome = "failed";
    }

    if (ngx_cms_json_init_pool(&j, r->pool, 512) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        goto done;
    }

    ngx_cms_json_raw(&j, (u_char *) "{\"upstream\":", 12);
    ngx_cms_json_string(&j, actx->cluster->name.data,
                        actx->cluster->name.len);
    ngx_cms_json_printf(&j, ",\"action\":\"%s\",\"result\":\"%s\","
                        "\"active\":", actx->action, outcome);
    ngx_cms_json_string(&j, result->to.data, result->to.len);
    ngx_cms_json_printf(&j, ",\"epoch\":%uL,\"manual\":%s}\n",
                        result->epoch, result->manual ? "true" : "false");

    ngx_http_finalize_request(r, ngx_cms_json_send(r, status, &j));

done:

    if (later) {
        ngx_http_run_posted_requests(c);
    }
}


static ngx_int_t
ngx_cms_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ngx_str_t *arg)
{
    u_char          *p;
    ngx_cms_json_t   j;
    u_char           text[512];

    p = arg ? ngx_snprintf(text, sizeof(text), fmt, arg)
            : ngx_snprintf(text, sizeof(text), "%s", fmt);

    if (ngx_cms_json_init_pool(&j, r->pool, 1024) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cms_json_raw(&j, (u_char *) "{\"error\":", 9);
    ngx_cms_json_string(&j, text, p - text);
    ngx_cms_json_raw(&j, (u_char *) "}\n", 2);

    return ngx_cms_json_send(r, status, &j);
}
