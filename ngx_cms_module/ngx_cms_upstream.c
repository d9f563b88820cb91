
/*
 * ngx_cms: the cluster's bridges as an nginx upstream.
 *
 * "cms_bridge" inside an upstream{} block adds the bridge as an ordinary
 * upstream server (a backup one for backup bridges), so proxy_pass,
 * keepalive, TLS and timeouts are nginx's own.  The balancer wraps
 * whatever balancer the block already has (round robin, keepalive), the
 * way the keepalive module does, and after the peer is chosen it puts the
 * credentials of that very bridge into the request it is about to send;
 * a retry on another bridge gets the other bridge's credentials.
 */


#include "ngx_cms.h"


typedef struct {
    ngx_cms_cluster_conf_t          *ccf;
    ngx_http_request_t              *request;

    void                            *data;
    ngx_event_get_peer_pt            original_get_peer;
    ngx_event_free_peer_pt           original_free_peer;

#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    original_set_session;
    ngx_event_save_peer_session_pt   original_save_session;
#endif
} ngx_cms_peer_data_t;


static ngx_int_t ngx_cms_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_cms_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_cms_get_peer(ngx_peer_connection_t *pc, void *data);
static void ngx_cms_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_cms_set_session(ngx_peer_connection_t *pc, void *data);
static void ngx_cms_save_session(ngx_peer_connection_t *pc, void *data);
#endif
static ngx_cms_bridge_t *ngx_cms_find_bridge(ngx_cms_cluster_conf_t *ccf,
    ngx_peer_connection_t *pc);
static ngx_int_t ngx_cms_set_authorization(ngx_http_request_t *r,
    ngx_str_t *value);


/*
 * cms_bridge <name> <host:port> user=<user> password=<password>
 *            [primary|backup] [max_fails=<n>] [fail_timeout=<time>];
 */

char *
ngx_cms_bridge_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_cluster_conf_t  *ccf = conf;

    time_t                         fail_timeout;
    ngx_str_t                     *value, s, password, plain;
    ngx_url_t                      u;
    ngx_int_t                      n;
    ngx_uint_t                     i, max_fails, nbackups;
    ngx_cms_bridge_t              *b, *other;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (ccf->bridges.elts == NULL
        && ngx_array_init(&ccf->bridges, cf->pool, 4,
                          sizeof(ngx_cms_bridge_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    other = ccf->bridges.elts;
    for (i = 0; i < ccf->bridges.nelts; i++) {
        if (other[i].name.len == value[1].len
            && ngx_strncmp(other[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate bridge name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    b = ngx_array_push(&ccf->bridges);
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(b, sizeof(ngx_cms_bridge_t));

    b->name = value[1];
    b->address = value[2];
    b->role = NGX_CMS_ROLE_PRIMARY;

    ngx_str_null(&password);
    max_fails = 1;
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
    for (i = 0; i < ccf->bridges.nelts - 1; i++) {
        if (other[i].role == NGX_CMS_ROLE_BACKUP) {
            nbackups++;
        }
    }

    b->priority = (b->role == NGX_CMS_ROLE_BACKUP) ? nbackups + 1 : 0;

    /* resolved at configuration time, as the "server" directive does */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[2];
    u.default_port = 443;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in bridge \"%V\" address \"%V\"",
                               u.err, &b->name, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.no_port == 0 && u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bridge \"%V\" address \"%V\" must be host:port, "
                           "the scheme comes from proxy_pass",
                           &b->name, &u.url);
        return NGX_CONF_ERROR;
    }

    b->addrs = u.addrs;
    b->naddrs = u.naddrs;

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

    /* wrap whatever balancer the block has so far (see keepalive) */

    if (uscf->peer.init_upstream != ngx_cms_init_upstream) {
        ccf->original_init_upstream = uscf->peer.init_upstream
                                      ? uscf->peer.init_upstream
                                      : ngx_http_upstream_init_round_robin;

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
    ngx_uint_t               i, primaries;
    ngx_cms_bridge_t        *b;
    ngx_cms_cluster_conf_t  *ccf;

    ccf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cms_module);

    primaries = 0;
    b = ccf->bridges.elts;

    for (i = 0; i < ccf->bridges.nelts; i++) {
        if (b[i].role == NGX_CMS_ROLE_PRIMARY) {
            primaries++;
        }
    }

    if (primaries != 1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" needs exactly one primary bridge, "
                      "it has %ui", &us->host, primaries);
        return NGX_ERROR;
    }

    if (ccf->original_init_upstream(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    ccf->original_init_peer = us->peer.init;
    us->peer.init = ngx_cms_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_cms_init_peer(ngx_http_request_t *r, ngx_http_upstream_srv_conf_t *us)
{
    ngx_cms_peer_data_t     *pd;
    ngx_cms_cluster_conf_t  *ccf;

    ccf = ngx_http_conf_upstream_srv_conf(us, ngx_http_cms_module);

    pd = ngx_palloc(r->pool, sizeof(ngx_cms_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    if (ccf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    pd->ccf = ccf;
    pd->request = r;

    pd->data = r->upstream->peer.data;
    pd->original_get_peer = r->upstream->peer.get;
    pd->original_free_peer = r->upstream->peer.free;

    r->upstream->peer.data = pd;
    r->upstream->peer.get = ngx_cms_get_peer;
    r->upstream->peer.free = ngx_cms_free_peer;

#if (NGX_HTTP_SSL)
    pd->original_set_session = r->upstream->peer.set_session;
    pd->original_save_session = r->upstream->peer.save_session;

    r->upstream->peer.set_session = ngx_cms_set_session;
    r->upstream->peer.save_session = ngx_cms_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_cms_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_cms_peer_data_t  *pd = data;

    ngx_int_t            rc;
    ngx_cms_ctx_t       *ctx;
    ngx_cms_bridge_t    *bridge;
    ngx_http_request_t  *r;
    ngx_cms_loc_conf_t  *lcf;

    rc = pd->original_get_peer(pc, pd->data);

    if (rc != NGX_OK && rc != NGX_DONE) {
        return rc;
    }

    r = pd->request;

    bridge = ngx_cms_find_bridge(pd->ccf, pc);
    if (bridge == NULL) {
        /* a plain "server" in the same block: not ours to touch */
        return rc;
    }

    ctx = ngx_cms_classify(r);
    if (ctx != NULL) {
        ctx->bridge = bridge;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "cms: sending to bridge \"%V\" (%V)",
                   &bridge->name, pc->name);

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_cms_module);

    if (lcf->credentials == NGX_CMS_CREDENTIALS_INJECT) {
        if (ngx_cms_set_authorization(r, &bridge->authorization) != NGX_OK) {
            if (rc == NGX_DONE) {
                /* a cached keepalive connection was handed to us */
                pd->original_free_peer(pc, pd->data, NGX_PEER_FAILED);
            }

            return NGX_ERROR;
        }
    }

    return rc;
}


static void
ngx_cms_free_peer(ngx_peer_connection_t *pc, void *data, ngx_uint_t state)
{
    ngx_cms_peer_data_t  *pd = data;

    pd->original_free_peer(pc, pd->data, state);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_cms_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_cms_peer_data_t  *pd = data;

    return pd->original_set_session(pc, pd->data);
}


static void
ngx_cms_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_cms_peer_data_t  *pd = data;

    pd->original_save_session(pc, pd->data);
}

#endif


static ngx_cms_bridge_t *
ngx_cms_find_bridge(ngx_cms_cluster_conf_t *ccf, ngx_peer_connection_t *pc)
{
    ngx_uint_t         i, j;
    ngx_cms_bridge_t  *b;

    b = ccf->bridges.elts;

    for (i = 0; i < ccf->bridges.nelts; i++) {
        for (j = 0; j < b[i].naddrs; j++) {
            if (ngx_cmp_sockaddr(pc->sockaddr, pc->socklen,
                                 b[i].addrs[j].sockaddr,
                                 b[i].addrs[j].socklen, 1)
                == NGX_OK)
            {
                return &b[i];
            }
        }
    }

    return NULL;
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
