
/*
 * ngx_cms: the cluster's bridges as an nginx upstream.
 *
 * "cms_bridge" inside an upstream{} block adds the bridge as an ordinary
 * upstream server (a backup one for backup bridges), so proxy_pass,
 * keepalive, TLS, proxy_next_upstream and timeouts are nginx's own.
 *
 * The balancer replaces round robin's choice, not its data (the hash
 * module's shape): round robin builds the peers and keeps connection
 * and failure accounting, SSL sessions and the tried/tries contract; the
 * bridge is chosen here, from the failover state in shared memory:
 *
 *   - a call-scoped request goes to the bridge that hosts the call, when
 *     it is known (ngx_cms_affinity.c); if that bridge is down the
 *     request fails at once with a clear answer, never to another bridge
 *     that would answer a misleading 404;
 *   - anything else goes to the active bridge, or, when it is down or
 *     was already tried by this request, to the next usable bridge in
 *     priority order (primary, then backups as declared); a bridge with
 *     max_fails= that failed that often is not usable for fail_timeout,
 *     as with round robin;
 *   - a write (anything but GET and HEAD) that reached a bridge is never
 *     sent to another one: it may have been applied.
 *
 * With health checks, each worker also watches its requests in flight
 * (ngx_cms_upstream_watch, from the health tick): a request that has
 * waited for a bridge's answer longer than the check timeout is a
 * passive signal (a hang shows here first), and when a bridge is found
 * down, the GETs still waiting for its answer are retried on the next
 * bridge at once instead of after proxy_read_timeout.
 *
 * After the peer is chosen the credentials of that very bridge go into
 * the request about to be sent; a retry on another bridge gets the other
 * bridge's credentials.  "keepalive" must come after the cms_bridge lines
 * so that it wraps this balancer and looks for a cached connection to the
 * bridge chosen here.
 */


#include "ngx_cms.h"


typedef struct {
    ngx_http_upstream_rr_peer_data_t   rrp;    /* must be first: round
                                                  robin's free and SSL
                                                  session functions get
                                                  this as their data */
    ngx_cms_fo_cluster_t              *cluster;
    ngx_http_request_t                *request;
    ngx_cms_ctx_t                     *ctx;
    ngx_cms_fo_req_t                  *fr;
    ngx_cms_bridge_t               *current;
    uintptr_t                          tried;  /* bridge index bits */
    ngx_uint_t                         attempts;

    /* in flight: in current->inflight, for ngx_cms_upstream_watch() */
    ngx_queue_t                        queue;
    ngx_msec_t                         sent;
    ngx_event_t                        retry;
    unsigned                           queued:1;
    unsigned                           stalled:1;
} ngx_cms_peer_data_t;


static ngx_int_t ngx_cms_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_cms_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_cms_get_peer(ngx_peer_connection_t *pc, void *data);
static void ngx_cms_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static ngx_cms_bridge_t *ngx_cms_call_bridge(ngx_cms_fo_cluster_t *cl,
    ngx_cms_ctx_t *ctx);
static ngx_cms_bridge_t *ngx_cms_choose(ngx_cms_fo_cluster_t *cl,
    uintptr_t tried);
static ngx_inline ngx_uint_t ngx_cms_passive_down(ngx_cms_fo_cluster_t *cl,
    ngx_cms_bridge_t *b);
static ngx_http_upstream_rr_peer_t *ngx_cms_bridge_peer(
    ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b);
static ngx_int_t ngx_cms_use_peer(ngx_cms_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_cms_bridge_t *b);
static ngx_int_t ngx_cms_set_authorization(ngx_http_request_t *r,
    ngx_str_t *value);
static void ngx_cms_unqueue(ngx_cms_peer_data_t *pd);
static void ngx_cms_peer_cleanup(void *data);
static ngx_uint_t ngx_cms_waiting(ngx_cms_peer_data_t *pd);
static void ngx_cms_retry_handler(ngx_event_t *ev);


#define ngx_cms_usable(cl, b)                                                 \
    ((cl)->sh == NULL                                                         \
     || (cl)->sh->bridges[(b)->slot].health != NGX_CMS_HEALTH_DOWN)


/*
 * cms_bridge <name> [http://|https://]<host>[:<port>]
 *            user=<user> password=<password> [primary|backup]
 *            [ssl_name=<name>] [max_fails=<n>] [fail_timeout=<time>];
 *
 * The scheme tells our own client (health checks, discovery) whether the
 * bridge speaks TLS; the proxied traffic uses proxy_pass's scheme and the
 * proxy_ssl_* directives.  Without a scheme, our client speaks plain
 * HTTP.
 */

char *
ngx_cms_bridge_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_cluster_conf_t  *ccf = conf;

    time_t                         fail_timeout;
    u_char                        *colon;
    ngx_str_t                     *value, s, password, plain, address;
    ngx_url_t                      u;
    ngx_int_t                      n;
    ngx_uint_t                     i, max_fails, nbackups, ssl;
    ngx_cms_bridge_t              *b, *other;
    ngx_cms_fo_cluster_t          *cl;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    cl = ngx_http_conf_get_module_srv_conf(cf, ngx_cms_failover_module);

    if (uscf->peer.init_upstream != NULL
        && uscf->peer.init_upstream != ngx_cms_init_upstream
        && uscf->peer.init_upstream != ngx_http_upstream_init_round_robin)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cms_bridge must come before \"keepalive\" and "
                           "cannot be used with another balancing method "
                           "in upstream \"%V\"", &uscf->host);
        return NGX_CONF_ERROR;
    }

    if (cl->bridges.elts == NULL
        && ngx_array_init(&cl->bridges, cf->pool, 4,
                          sizeof(ngx_cms_bridge_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    other = cl->bridges.elts;
    for (i = 0; i < cl->bridges.nelts; i++) {
        if (other[i].name.len == value[1].len
            && ngx_strncmp(other[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate bridge name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (cl->bridges.nelts == NGX_CMS_SHM_MAX_BRIDGES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d bridges in upstream \"%V\"",
                           NGX_CMS_SHM_MAX_BRIDGES, &uscf->host);
        return NGX_CONF_ERROR;
    }

    if (value[1].len > NGX_CMS_SHM_NAME_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bridge name \"%V\" is longer than %d bytes",
                           &value[1], NGX_CMS_SHM_NAME_LEN);
        return NGX_CONF_ERROR;
    }

    b = ngx_array_push(&cl->bridges);
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(b, sizeof(ngx_cms_bridge_t));

    /* the array may have moved: earlier bridges are found afresh */
    other = cl->bridges.elts;

    b->name = value[1];
    b->address = value[2];
    b->role = NGX_CMS_ROLE_PRIMARY;

    cl->ccf = ccf;
    cl->uscf = uscf;
    cl->name = uscf->host;

    ngx_str_null(&password);

    /* no passive exclusion unless asked for: the health checks and the
     * failover state decide which bridge is usable */
    max_fails = 0;
    fail_timeout = 10;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            b->user.data = value[i].data + 5;
            b->user.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            password.data = value[i].data + 9;
            password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strcmp(value[i].data, "primary") == 0) {
            b->role = NGX_CMS_ROLE_PRIMARY;
            continue;
        }

        if (ngx_strcmp(value[i].data, "backup") == 0) {
            b->role = NGX_CMS_ROLE_BACKUP;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ssl_name=", 9) == 0) {
            b->ssl_name.data = value[i].data + 9;
            b->ssl_name.len = value[i].len - 9;

            if (b->ssl_name.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_fails=", 10) == 0) {
            n = ngx_atoi(&value[i].data[10], value[i].len - 10);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            max_fails = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "fail_timeout=", 13) == 0) {
            s.len = value[i].len - 13;
            s.data = &value[i].data[13];

            fail_timeout = ngx_parse_time(&s, 1);
            if (fail_timeout == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (b->user.len == 0 || password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bridge \"%V\" needs \"user=\" and \"password=\"",
                           &b->name);
        return NGX_CONF_ERROR;
    }

    /* the Authorization header value, built once */

    plain.len = b->user.len + 1 + password.len;
    plain.data = ngx_pnalloc(cf->pool, plain.len);
    if (plain.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(plain.data, "%V:%V", &b->user, &password);

    b->authorization.len = sizeof("Basic ") - 1
                           + ngx_base64_encoded_length(plain.len);
    b->authorization.data = ngx_pnalloc(cf->pool, b->authorization.len);
    if (b->authorization.data == NULL) {
        return NGX_CONF_ERROR;
    }

    s.data = ngx_cpymem(b->authorization.data, "Basic ", 6);
    ngx_encode_base64(&s, &plain);

    nbackups = 0;
    for (i = 0; i < cl->bridges.nelts - 1; i++) {
        if (other[i].role == NGX_CMS_ROLE_BACKUP) {
            nbackups++;
        }
    }

    b->priority = (b->role == NGX_CMS_ROLE_BACKUP) ? nbackups + 1 : 0;

    /* the scheme is ours; nginx's URL parser sees host[:port] */

    address = value[2];
    ssl = 0;

    if (address.len > 8
        && ngx_strncasecmp(address.data, (u_char *) "https://", 8) == 0)
    {
        address.data += 8;
        address.len -= 8;
        ssl = 1;

    } else if (address.len > 7
               && ngx_strncasecmp(address.data, (u_char *) "http://", 7)
                  == 0)
    {
        address.data += 7;
        address.len -= 7;
    }

    if (address.len && address.data[address.len - 1] == '/') {
        address.len--;
    }

#if !(NGX_SSL)
    if (ssl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bridge \"%V\": https needs nginx with SSL",
                           &b->name);
        return NGX_CONF_ERROR;
    }
#endif

    /* resolved at configuration time, as the "server" directive does */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = address;
    u.default_port = (ssl || address.len == value[2].len) ? 443 : 80;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in bridge \"%V\" address \"%V\"",
                               u.err, &b->name, &value[2]);
        }

        return NGX_CONF_ERROR;
    }

    if (u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bridge \"%V\" address \"%V\" must be "
                           "[scheme://]host[:port], the path comes from "
                           "proxy_pass", &b->name, &value[2]);
        return NGX_CONF_ERROR;
    }

    b->addrs = u.addrs;
    b->naddrs = u.naddrs;

    b->ssl = ssl;
    b->host = u.host;

    if (b->host.len > 2 && b->host.data[0] == '[') {
        /* an IPv6 literal: the name to check is the bare address */
        colon = b->host.data + b->host.len - 1;

        if (*colon == ']') {
            b->host.data++;
            b->host.len -= 2;
        }
    }

    if (b->ssl_name.len == 0) {
        b->ssl_name = b->host;
    }

    if (uscf->servers == NULL) {
        uscf->servers = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_upstream_server_t));
        if (uscf->servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    us->name = u.url;
    us->addrs = u.addrs;
    us->naddrs = u.naddrs;
    us->weight = 1;
    us->max_fails = max_fails;
    us->fail_timeout = fail_timeout;
    us->backup = (b->role == NGX_CMS_ROLE_BACKUP);

    if (uscf->peer.init_upstream != ngx_cms_init_upstream) {
        ccf->original_init_upstream = ngx_http_upstream_init_round_robin;
        uscf->peer.init_upstream = ngx_cms_init_upstream;
    }

    uscf->flags |= NGX_HTTP_UPSTREAM_BACKUP;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in bridge \"%V\"",
                       &value[i], &b->name);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_cms_init_upstream(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t               i, j, k, primaries;
    ngx_cms_bridge_t        *b, **order;
    ngx_cms_fo_cluster_t    *cl;
    ngx_cms_cluster_conf_t  *ccf;

    ccf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cms_module);
    cl = ngx_http_conf_upstream_srv_conf(us, ngx_cms_failover_module);

    primaries = 0;
    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        if (b[i].role == NGX_CMS_ROLE_PRIMARY) {
            primaries++;
            cl->primary = i;
        }

        b[i].cluster = cl;
        b[i].index = i;
    }

    if (primaries != 1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" needs exactly one primary bridge, "
                      "it has %ui", &us->host, primaries);
        return NGX_ERROR;
    }

    if (us->servers->nelts != cl->bridges.nelts) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" mixes \"server\" with \"cms_bridge\"",
                      &us->host);
        return NGX_ERROR;
    }

    /* the order in which bridges are tried: by priority */

    order = ngx_palloc(cf->pool,
                       cl->bridges.nelts * sizeof(ngx_cms_bridge_t *));
    if (order == NULL) {
        return NGX_ERROR;
    }

    k = 0;
    for (j = 0; k < cl->bridges.nelts; j++) {
        for (i = 0; i < cl->bridges.nelts; i++) {
            if (b[i].priority == j) {
                order[k++] = &b[i];
            }
        }
    }

    cl->order = order;

    if (ccf->original_init_upstream(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    ccf->original_init_peer = us->peer.init;
    us->peer.init = ngx_cms_init_peer;

    cl->balancer = 1;

    return NGX_OK;
}


/* from the failover module's postconfiguration */

ngx_int_t
ngx_cms_upstream_check(ngx_conf_t *cf, ngx_cms_fo_cluster_t *cl)
{
    if (!cl->balancer) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "upstream \"%V\" with cms_bridge has another "
                           "balancing method: remove it (\"keepalive\" "
                           "after the cms_bridge lines is fine)",
                           &cl->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_init_peer(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us)
{
    ngx_cms_ctx_t           *ctx;
    ngx_pool_cleanup_t      *cln;
    ngx_cms_fo_req_t        *fr;
    ngx_cms_peer_data_t     *pd;
    ngx_cms_fo_cluster_t    *cl;
    ngx_cms_cluster_conf_t  *ccf;

    ccf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cms_module);
    cl = ngx_http_conf_upstream_srv_conf(us, ngx_cms_failover_module);

    /*
     * The choice needs the call's classification anyway; our state goes
     * in the spare room of its context's block (ngx_cms_ctx.c), not in
     * the request pool.
     */

    ctx = ngx_cms_classify(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /*
     * Our state, not zeroed (every field is set below or before it is
     * read), and on the request's first attempt the failover module's,
     * zeroed: in one piece.
     */

    fr = ngx_http_get_module_ctx(r, ngx_cms_failover_module);

    pd = ngx_cms_ctx_palloc(ctx, r->pool, sizeof(ngx_cms_peer_data_t)
                                          + (fr ? 0 : sizeof(ngx_cms_fo_req_t)));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    if (fr == NULL) {
        fr = (ngx_cms_fo_req_t *) (pd + 1);

        ngx_memzero(fr, sizeof(ngx_cms_fo_req_t));

        ngx_http_set_ctx(r, fr, ngx_cms_failover_module);
    }

    fr->cluster = cl;

    /* round robin fills pd->rrp: its data, our choice */

    r->upstream->peer.data = &pd->rrp;

    if (ccf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    pd->cluster = cl;
    pd->request = r;
    pd->ctx = ctx;
    pd->fr = fr;
    pd->current = NULL;
    pd->tried = 0;
    pd->attempts = 0;
    pd->queued = 0;     /* only ever set with health checks */
    pd->stalled = 0;

    r->upstream->peer.get = ngx_cms_get_peer;
    r->upstream->peer.free = ngx_cms_free_peer;

    if (cl->health) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_cms_peer_cleanup;
        cln->data = pd;

        ngx_memzero(&pd->retry, sizeof(ngx_event_t));

        pd->retry.handler = ngx_cms_retry_handler;
        pd->retry.data = pd;
        pd->retry.log = r->connection->log;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_cms_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_cms_peer_data_t  *pd = data;

    ngx_cms_ctx_t         *ctx;
    ngx_cms_fo_req_t      *fr;
    ngx_cms_loc_conf_t    *lcf;
    ngx_cms_bridge_t   *b;
    ngx_cms_fo_cluster_t  *cl;

    cl = pd->cluster;
    fr = pd->fr;
    ctx = pd->ctx;

    if (pd->attempts == 0) {

        fr->call_bridge = ngx_cms_call_bridge(cl, ctx);

        if (fr->call_bridge) {
            b = fr->call_bridge;

            if (!ngx_cms_usable(cl, b)) {
                fr->bridge = b;
                fr->unavailable = NGX_CMS_UNAVAILABLE_CALL_DOWN;
                goto busy;
            }

        } else {
            b = ngx_cms_choose(cl, 0);

            if (b == NULL) {
                fr->unavailable = NGX_CMS_UNAVAILABLE_NO_BRIDGE;
                goto busy;
            }
        }

    } else {

        /*
         * A retry.  A call lives on one bridge: no other can stand in.
         * A write that reached a bridge is not sent again (nginx would
         * retry a PUT or DELETE, and a stale cached connection even
         * re-sends a POST's attempt counter, see ngx_cms_free_peer()).
         */

        if (fr->call_bridge || fr->not_replayed) {
            fr->unavailable = NGX_CMS_UNAVAILABLE_NO_ANSWER;
            goto busy;
        }

        b = ngx_cms_choose(cl, pd->tried);

        if (b == NULL) {
            fr->unavailable = NGX_CMS_UNAVAILABLE_NO_ANSWER;
            goto busy;
        }
    }

    if (ngx_cms_use_peer(pd, pc, b) != NGX_OK) {
        return NGX_ERROR;
    }

    fr->bridge = b;
    fr->unavailable = NGX_CMS_UNAVAILABLE_NONE;

    ctx->bridge = b;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "cms: sending to bridge \"%V\" (%V), attempt %ui",
                   &b->name, pc->name, pd->attempts);

    lcf = ngx_http_get_module_loc_conf(pd->request, ngx_http_cms_module);

    if (lcf->credentials == NGX_CMS_CREDENTIALS_INJECT
        && ngx_cms_set_authorization(pd->request, &b->authorization)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;

busy:

    /* no more tries: ngx_http_upstream_next() finalizes with an error,
     * which ngx_cms_unavailable.c turns into a CMS-shaped answer */

    pc->tries = 0;
    pc->name = pd->rrp.peers->name;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "cms: no bridge for this request (%ui)", fr->unavailable);

    return NGX_BUSY;
}


static void
ngx_cms_free_peer(ngx_peer_connection_t *pc, void *data, ngx_uint_t state)
{
    ngx_cms_peer_data_t  *pd = data;

    const char            *what;
    ngx_uint_t             status, no_replay;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_cms_bridge_t      *b;
    ngx_http_upstream_t   *u;

    r = pd->request;
    u = r->upstream;
    b = pd->current;

    no_replay = 0;

    ngx_cms_unqueue(pd);

    if (b && u) {
        pd->current = NULL;

        status = u->headers_in.status_n;
        c = pc->connection;

        what = NULL;

        if (status >= 502 && status <= 504) {
            what = (status == 502) ? "answered 502"
                                   : (status == 503) ? "answered 503"
                                                     : "answered 504";

        } else if (pd->ctx->answer_invalid) {
            what = "answered a write with 200 and a body";

        } else if ((state & NGX_PEER_FAILED) && status == 0 && !pc->cached) {
            /* a cached keepalive connection the bridge had closed is
             * not news about the bridge */

            if (c && (c->read->timedout || c->write->timedout)) {
                what = "timed out";

            } else {
                what = u->request_sent ? "failed after the request was sent"
                                       : "refused or failed to connect";
            }
        }

        if (what) {
            ngx_cms_health_passive(pd->cluster, b, what, pc->name);
        }

        if ((state & NGX_PEER_FAILED)
            && u->request_sent
            && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        {
            no_replay = 1;
            pd->fr->not_replayed = 1;
        }
    }

    ngx_http_upstream_free_round_robin_peer(pc, &pd->rrp, state);

    if (no_replay) {
        pc->tries = 0;
    }
}


/* the bridge that hosts the call a call-scoped request is about */

static ngx_cms_bridge_t *
ngx_cms_call_bridge(ngx_cms_fo_cluster_t *cl, ngx_cms_ctx_t *ctx)
{
    ngx_uint_t       slot;
    ngx_cms_span_t  *id;

    if (!cl->affinity || ctx == NULL || ctx->api_rc != NGX_CMS_API_OK
        || !ctx->api.call_scoped)
    {
        return NULL;
    }

    id = ctx->api.call_id.len ? &ctx->api.call_id : &ctx->api.object_id;

    if (id->len == 0 || (id->len == 1 && id->data[0] == '*')) {
        return NULL;
    }

    slot = ngx_cms_affinity_lookup(cl, (u_char *) id->data, id->len);

    if (slot == NGX_CMS_SHM_NO_SLOT) {
        return NULL;
    }

    return ngx_cms_failover_bridge_by_slot(cl, slot);
}


/* the active bridge, else the first usable untried one by priority */

static ngx_cms_bridge_t *
ngx_cms_choose(ngx_cms_fo_cluster_t *cl, uintptr_t tried)
{
    ngx_uint_t         i, n;
    ngx_cms_bridge_t  *b;

    if (cl->sh) {
        b = ngx_cms_failover_bridge_by_slot(cl, cl->sh->active);

        if (b && !(tried & ((uintptr_t) 1 << b->index))
            && ngx_cms_usable(cl, b) && !ngx_cms_passive_down(cl, b))
        {
            return b;
        }
    }

    n = cl->bridges.nelts;

    for (i = 0; i < n; i++) {
        b = cl->order[i];

        if (!(tried & ((uintptr_t) 1 << b->index)) && ngx_cms_usable(cl, b)
            && !ngx_cms_passive_down(cl, b))
        {
            return b;
        }
    }

    return NULL;
}


/*
 * nginx's passive accounting, kept by round robin (ngx_cms_free_peer()
 * hands it every outcome): a bridge that failed max_fails= times is left
 * out for fail_timeout=, as round robin's own choice would.
 */

static ngx_inline ngx_uint_t
ngx_cms_passive_down(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b)
{
    ngx_uint_t                     down;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    peer = ngx_cms_bridge_peer(cl, b);

    if (peer == NULL) {
        return 0;
    }

    peers = b->rr_peers;

    ngx_http_upstream_rr_peers_rlock(peers);
    ngx_http_upstream_rr_peer_lock(peers, peer);

    down = peer->max_fails
           && peer->fails >= peer->max_fails
           && ngx_time() - peer->checked <= peer->fail_timeout;

    ngx_http_upstream_rr_peer_unlock(peers, peer);
    ngx_http_upstream_rr_peers_unlock(peers);

    return down;
}


/*
 * Round robin's peer for the bridge: the primary list, then the backup
 * list (with "zone" both live in shared memory; uscf->peer.data points
 * there).  Looked for once per worker and kept in the bridge.
 */

static ngx_http_upstream_rr_peer_t *
ngx_cms_bridge_peer(ngx_cms_fo_cluster_t *cl, ngx_cms_bridge_t *b)
{
    ngx_uint_t                     list;
    ngx_addr_t                    *addr;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    if (b->rr_peer) {
        return b->rr_peer;
    }

    addr = &b->addrs[0];
    peers = cl->uscf->peer.data;

    for (list = 0; peers && list < 2; list++, peers = peers->next) {

        ngx_http_upstream_rr_peers_rlock(peers);

        for (peer = peers->peer; peer; peer = peer->next) {
            if (ngx_cmp_sockaddr(peer->sockaddr, peer->socklen,
                                 addr->sockaddr, addr->socklen, 1)
                == NGX_OK)
            {
                break;
            }
        }

        ngx_http_upstream_rr_peers_unlock(peers);

        if (peer) {
            b->rr_peers = peers;
            b->rr_peer = peer;
            return peer;
        }
    }

    return NULL;
}


/* round robin's peer for the bridge, taken as round robin would */

static ngx_int_t
ngx_cms_use_peer(ngx_cms_peer_data_t *pd, ngx_peer_connection_t *pc,
    ngx_cms_bridge_t *b)
{
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    peer = ngx_cms_bridge_peer(pd->cluster, b);

    if (peer == NULL) {
        ngx_log_error(NGX_LOG_ALERT, pc->log, 0,
                      "cms: no upstream peer for bridge \"%V\"", &b->name);
        return NGX_ERROR;
    }

    peers = b->rr_peers;

    ngx_http_upstream_rr_peers_rlock(peers);
    ngx_http_upstream_rr_peer_lock(peers, peer);

    peer->conns++;

    /* as round robin: a try after fail_timeout starts a new count once
     * it succeeds (ngx_http_upstream_free_round_robin_peer) */
    if (ngx_time() - peer->checked > peer->fail_timeout) {
        peer->checked = ngx_time();
    }

    ngx_http_upstream_rr_peer_unlock(peers, peer);
    ngx_http_upstream_rr_peers_unlock(peers);

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    pd->rrp.peers = peers;
    pd->rrp.current = peer;

    pd->current = b;
    pd->tried |= (uintptr_t) 1 << b->index;
    pd->attempts++;

    if (pd->cluster->health) {
        pd->sent = ngx_current_msec;
        pd->stalled = 0;
        pd->queued = 1;
        ngx_queue_insert_tail(&b->inflight, &pd->queue);
    }

    return NGX_OK;
}


/* requests in flight */

void
ngx_cms_upstream_init_process(ngx_cms_fo_cluster_t *cl)
{
    ngx_uint_t            i;
    ngx_cms_bridge_t  *b;

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        ngx_queue_init(&b[i].inflight);
        b[i].seen_health = NGX_CMS_HEALTH_UNKNOWN;
    }
}


/* every health tick, in every worker */

void
ngx_cms_upstream_watch(ngx_cms_fo_cluster_t *cl)
{
    u_char                 what[64];
    ngx_uint_t             i, health;
    ngx_msec_t             now, waited;
    ngx_queue_t           *q;
    ngx_cms_bridge_t   *b;
    ngx_cms_peer_data_t   *pd;

    now = ngx_current_msec;
    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {

        health = cl->sh->bridges[b[i].slot].health;

        if (health == NGX_CMS_HEALTH_DOWN
            && b[i].seen_health != NGX_CMS_HEALTH_DOWN)
        {
            /* down: the GETs it holds move on now, writes wait theirs */

            for (q = ngx_queue_head(&b[i].inflight);
                 q != ngx_queue_sentinel(&b[i].inflight);
                 q = ngx_queue_next(q))
            {
                pd = ngx_queue_data(q, ngx_cms_peer_data_t, queue);

                if ((pd->request->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
                    && !pd->retry.posted
                    && ngx_cms_waiting(pd))
                {
                    ngx_post_event(&pd->retry, &ngx_posted_events);
                }
            }
        }

        b[i].seen_health = health;

        if (health == NGX_CMS_HEALTH_DOWN) {
            continue;
        }

        /* the oldest request still waiting for an answer */

        for (q = ngx_queue_head(&b[i].inflight);
             q != ngx_queue_sentinel(&b[i].inflight);
             q = ngx_queue_next(q))
        {
            pd = ngx_queue_data(q, ngx_cms_peer_data_t, queue);

            waited = now - pd->sent;

            if ((ngx_msec_int_t) waited < (ngx_msec_int_t) cl->timeout) {
                break;
            }

            if (pd->stalled || !ngx_cms_waiting(pd)) {
                continue;
            }

            pd->stalled = 1;

            ngx_snprintf(what, sizeof(what), "has waited %M ms%Z", waited);
            ngx_cms_health_passive(cl, &b[i], (char *) what, NULL);

            break;
        }
    }
}


/* sent, and nothing of the answer has come yet */

static ngx_uint_t
ngx_cms_waiting(ngx_cms_peer_data_t *pd)
{
    ngx_http_upstream_t  *u;

    u = pd->request->upstream;

    return (u != NULL
            && u->peer.connection != NULL
            && u->request_sent
            && u->headers_in.status_n == 0
            && (u->buffer.start == NULL || u->buffer.last == u->buffer.pos));
}


/*
 * Posted by ngx_cms_upstream_watch(): looks again (the answer may have
 * come meanwhile) and, if the request still waits, makes it time out now,
 * which proxy_next_upstream sends to the next bridge.
 */

static void
ngx_cms_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_cms_peer_data_t  *pd;

    pd = ev->data;

    if (!pd->queued || !ngx_cms_waiting(pd)) {
        return;
    }

    c = pd->request->upstream->peer.connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "cms: bridge \"%V\" is down, the GET waiting for it is "
                  "retried now", &pd->current->name);

    c->read->timedout = 1;
    c->read->handler(c->read);
}


static void
ngx_cms_unqueue(ngx_cms_peer_data_t *pd)
{
    /* the retry is posted only while queued, and queued only with health
     * checks, when it was made */

    if (!pd->queued) {
        return;
    }

    ngx_queue_remove(&pd->queue);
    pd->queued = 0;

    if (pd->retry.posted) {
        ngx_delete_posted_event(&pd->retry);
    }
}


static void
ngx_cms_peer_cleanup(void *data)
{
    ngx_cms_unqueue(data);
}


/*
 * Replaces any Authorization line in the request header block that the
 * proxy module has already built (the first buffer of u->request_bufs)
 * with the bridge's own.  Called for every attempt, before the upstream
 * module rewinds the buffers for a retry, so we copy from b->start.
 */

static ngx_int_t
ngx_cms_set_authorization(ngx_http_request_t *r, ngx_str_t *value)
{
    size_t                len;
    u_char               *p, *line, *eol, *last, *dst;
    ngx_buf_t            *b, *nb;
    ngx_http_upstream_t  *u;

    static u_char         header[] = "Authorization: ";

    u = r->upstream;

    if (u == NULL || u->request_bufs == NULL) {
        return NGX_OK;
    }

    b = u->request_bufs->buf;

    if (b == NULL || b->in_file || b->start == NULL) {
        return NGX_OK;
    }

    last = b->last;

    len = (last - b->start) + sizeof(header) - 1 + value->len + 2;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    nb = ngx_alloc_buf(r->pool);
    if (nb == NULL) {
        return NGX_ERROR;
    }

    *nb = *b;

    dst = p;
    line = b->start;

    for ( ;; ) {
        eol = ngx_strlcasestrn(line, last, (u_char *) "\r\n", 1);

        if (eol == NULL) {
            /* not a header block we understand: leave it alone */
            return NGX_OK;
        }

        if (eol == line) {
            /* the empty line that ends the header block */
            dst = ngx_cpymem(dst, header, sizeof(header) - 1);
            dst = ngx_cpymem(dst, value->data, value->len);
            *dst++ = CR; *dst++ = LF;
            dst = ngx_cpymem(dst, line, last - line);
            break;
        }

        if (line != b->start
            && (size_t) (eol - line) >= sizeof(header) - 2
            && ngx_strncasecmp(line, header, sizeof(header) - 2) == 0)
        {
            /* the client's own Authorization: dropped */
            line = eol + 2;
            continue;
        }

        dst = ngx_cpymem(dst, line, eol + 2 - line);
        line = eol + 2;
    }

    nb->start = p;
    nb->pos = p;
    nb->last = dst;
    nb->end = p + len;

    u->request_bufs->buf = nb;

    return NGX_OK;
}
