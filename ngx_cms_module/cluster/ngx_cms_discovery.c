
/*
 * ngx_cms: cluster discovery.
 *
 * The worker that owns the health checks asks the active bridge for the
 * cluster the way TMS does: GET /api/v1/callBridges (paged), then
 * GET /api/v1/callBridges/<id> for each entry.  Each bridge found is
 * matched to a configured one by address (scheme://host[:port] against
 * the configured host or resolved address and port); what the cluster
 * has that the configuration lacks, and the other way round, shows in
 * the status and, once per change, in the error log.  It runs at start,
 * after every change of the active bridge, and every
 * cms_discovery interval.
 */


#include "ngx_cms_failover.h"
#include "ngx_cms_xml.h"

#include <libxml/parser.h>

#include "ngx_cms_xml.h"


#define NGX_CMS_DISCOVERY_TIMEOUT  5000
#define NGX_CMS_DISCOVERY_RETRY    10000


struct ngx_cms_discovery_s {
    ngx_cms_fo_cluster_t      *cluster;
    ngx_pool_t                *pool;        /* of the round in progress */
    ngx_cms_client_t          *request;
    ngx_cms_bridge_t       *from;
    ngx_cms_client_target_t    target;
    ngx_msec_t                 next;
    ngx_uint_t                 reset;

    ngx_array_t                ids;         /* of ngx_str_t */
    ngx_uint_t                 total;
    ngx_uint_t                 next_id;
    ngx_uint_t                 nfound;
    ngx_cms_shm_discovered_t   found[NGX_CMS_SHM_DISCOVERED];

    uint32_t                   signature;   /* of the last difference */
};


static void ngx_cms_discovery_start(ngx_cms_discovery_t *d);
static void ngx_cms_discovery_get(ngx_cms_discovery_t *d, ngx_str_t *path,
    ngx_cms_client_handler_pt handler);
static void ngx_cms_discovery_list_done(ngx_cms_client_t *cc);
static void ngx_cms_discovery_item_done(ngx_cms_client_t *cc);
static void ngx_cms_discovery_next(ngx_cms_discovery_t *d);
static void ngx_cms_discovery_finish(ngx_cms_discovery_t *d, ngx_str_t *err);
static xmlDocPtr ngx_cms_discovery_parse(ngx_cms_client_t *cc);
static ngx_uint_t ngx_cms_discovery_match(ngx_cms_fo_cluster_t *cl,
    u_char *address, size_t len);
static void ngx_cms_discovery_report(ngx_cms_discovery_t *d);


void
ngx_cms_discovery_tick(ngx_cms_fo_cluster_t *cl)
{
    ngx_msec_t            now;
    ngx_cms_discovery_t  *d;

    d = cl->discovery_state;

    if (d == NULL) {
        d = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_cms_discovery_t));
        if (d == NULL) {
            return;
        }

        d->cluster = cl;
        d->reset = 1;
        cl->discovery_state = d;
    }

    if (d->request || d->pool) {
        return;
    }

    now = ngx_current_msec;

    if (!d->reset && (ngx_msec_int_t) (now - d->next) < 0) {
        return;
    }

    d->from = ngx_cms_failover_bridge_by_slot(cl, cl->sh->active);

    if (d->from == NULL
        || cl->sh->bridges[d->from->slot].health != NGX_CMS_HEALTH_UP)
    {
        /* ask a bridge that answers; wait for one */
        return;
    }

    d->reset = 0;
    d->next = now + cl->discovery_interval;

    ngx_cms_discovery_start(d);
}


/* after a change of the active bridge: look again soon */

void
ngx_cms_discovery_reset(ngx_cms_fo_cluster_t *cl)
{
    if (cl->discovery_state) {
        cl->discovery_state->reset = 1;
    }
}


void
ngx_cms_discovery_cancel(ngx_cms_fo_cluster_t *cl)
{
    ngx_cms_discovery_t  *d;

    d = cl->discovery_state;

    if (d == NULL) {
        return;
    }

    if (d->request) {
        ngx_cms_client_cancel(d->request);
        d->request = NULL;
    }

    if (d->pool) {
        ngx_destroy_pool(d->pool);
        d->pool = NULL;
    }

    d->reset = 1;
}


static void
ngx_cms_discovery_start(ngx_cms_discovery_t *d)
{
    ngx_str_t  path;

    d->pool = ngx_create_pool(4096, d->cluster->log);
    if (d->pool == NULL) {
        return;
    }

    if (ngx_array_init(&d->ids, d->pool, 8, sizeof(ngx_str_t)) != NGX_OK) {
        ngx_destroy_pool(d->pool);
        d->pool = NULL;
        return;
    }

    d->target = d->from->target;
    d->target.timeout = ngx_max(d->target.timeout, NGX_CMS_DISCOVERY_TIMEOUT);
    d->target.max_response = NGX_CMS_DISCOVERY_MAX_RESPONSE;

    d->total = 0;
    d->next_id = 0;
    d->nfound = 0;

    ngx_str_set(&path, "/api/v1/callBridges");

    ngx_cms_discovery_get(d, &path, ngx_cms_discovery_list_done);
}


static void
ngx_cms_discovery_get(ngx_cms_discovery_t *d, ngx_str_t *path,
    ngx_cms_client_handler_pt handler)
{
    ngx_str_t  err;

    static ngx_str_t  get = ngx_string("GET");

    d->request = ngx_cms_client_request(&d->target, &get, path, NULL,
                                        handler, d);

    if (d->request == NULL) {
        ngx_str_set(&err, "out of memory");
        ngx_cms_discovery_finish(d, &err);
    }
}


static xmlDocPtr
ngx_cms_discovery_parse(ngx_cms_client_t *cc)
{
    if (cc->rc != NGX_OK || cc->status != NGX_HTTP_OK) {
        return NULL;
    }

    return ngx_cms_xml_read(cc->body.data, cc->body.len, NULL, NULL);
}


static ngx_int_t
ngx_cms_discovery_error(ngx_cms_client_t *cc, ngx_str_t *err, u_char *buf,
    size_t size, const char *what)
{
    u_char  *p;

    if (cc->rc != NGX_OK) {
        p = ngx_snprintf(buf, size, "%s: %V", what, &cc->error);

    } else if (cc->status != NGX_HTTP_OK) {
        p = ngx_snprintf(buf, size, "%s answered %ui", what, cc->status);

    } else {
        p = ngx_snprintf(buf, size, "%s: not the XML expected", what);
    }

    err->data = buf;
    err->len = p - buf;

    return NGX_ERROR;
}


static void
ngx_cms_discovery_list_done(ngx_cms_client_t *cc)
{
    u_char               *p;
    xmlChar              *v;
    ngx_int_t             n;
    ngx_str_t            *id, err, path;
    xmlDocPtr             doc;
    xmlNodePtr            root, item;
    ngx_uint_t            page;
    ngx_cms_discovery_t  *d;
    u_char                buf[NGX_CMS_SHM_TEXT_LEN];

    d = cc->data;
    d->request = NULL;

    doc = ngx_cms_discovery_parse(cc);
    root = doc ? xmlDocGetRootElement(doc) : NULL;

    if (root == NULL
        || xmlStrcmp(root->name, (const xmlChar *) "callBridges") != 0)
    {
        if (doc) {
            xmlFreeDoc(doc);
        }

        (void) ngx_cms_discovery_error(cc, &err, buf, sizeof(buf),
                                       "GET /api/v1/callBridges");
        ngx_cms_discovery_finish(d, &err);
        return;
    }

    v = xmlGetProp(root, (const xmlChar *) "total");
    if (v) {
        n = ngx_atoi(v, ngx_strlen(v));
        d->total = (n > 0) ? (ngx_uint_t) n : 0;
        xmlFree(v);
    }

    page = 0;

    for (item = root->children; item; item = item->next) {

        if (item->type != XML_ELEMENT_NODE
            || xmlStrcmp(item->name, (const xmlChar *) "callBridge") != 0)
        {
            continue;
        }

        v = xmlGetProp(item, (const xmlChar *) "id");
        if (v == NULL) {
            continue;
        }

        page++;

        if (d->ids.nelts < NGX_CMS_SHM_DISCOVERED
            && ngx_strlen(v) <= NGX_CMS_SHM_NAME_LEN)
        {
            id = ngx_array_push(&d->ids);
            if (id == NULL) {
                xmlFree(v);
                break;
            }

            id->len = ngx_strlen(v);
            id->data = ngx_pnalloc(d->pool, id->len);

            if (id->data == NULL) {
                id->len = 0;

            } else {
                ngx_memcpy(id->data, v, id->len);
            }
        }

        xmlFree(v);
    }

    xmlFreeDoc(doc);

    /* the list is paged like any CMS list: ask for the rest */

    if (page && d->ids.nelts < d->total
        && d->ids.nelts < NGX_CMS_SHM_DISCOVERED)
    {
        path.data = ngx_pnalloc(d->pool, sizeof("/api/v1/callBridges?offset=")
                                         + NGX_INT_T_LEN);
        if (path.data) {
            p = ngx_sprintf(path.data, "/api/v1/callBridges?offset=%ui",
                            d->ids.nelts);
            path.len = p - path.data;

            ngx_cms_discovery_get(d, &path, ngx_cms_discovery_list_done);
            return;
        }
    }

    ngx_cms_discovery_next(d);
}


static void
ngx_cms_discovery_next(ngx_cms_discovery_t *d)
{
    u_char     *p;
    ngx_str_t  *id, path;

    if (d->next_id == d->ids.nelts) {
        ngx_cms_discovery_finish(d, NULL);
        return;
    }

    id = d->ids.elts;
    id = &id[d->next_id++];

    path.data = ngx_pnalloc(d->pool, sizeof("/api/v1/callBridges/")
                                     + id->len * 3);
    if (path.data == NULL) {
        ngx_cms_discovery_finish(d, NULL);
        return;
    }

    p = ngx_cpymem(path.data, "/api/v1/callBridges/", 20);
    p = (u_char *) ngx_escape_uri(p, id->data, id->len, NGX_ESCAPE_URI);
    path.len = p - path.data;

    ngx_cms_discovery_get(d, &path, ngx_cms_discovery_item_done);
}


static void
ngx_cms_discovery_item_done(ngx_cms_client_t *cc)
{
    xmlChar                   *v;
    ngx_str_t                  err;
    xmlDocPtr                  doc;
    xmlNodePtr                 root, child;
    ngx_cms_discovery_t       *d;
    ngx_cms_shm_discovered_t  *f;
    u_char                     buf[NGX_CMS_SHM_TEXT_LEN];

    d = cc->data;
    d->request = NULL;

    doc = ngx_cms_discovery_parse(cc);
    root = doc ? xmlDocGetRootElement(doc) : NULL;

    if (root == NULL
        || xmlStrcmp(root->name, (const xmlChar *) "callBridge") != 0)
    {
        if (doc) {
            xmlFreeDoc(doc);
        }

        (void) ngx_cms_discovery_error(cc, &err, buf, sizeof(buf),
                                       "GET /api/v1/callBridges/<id>");
        ngx_cms_discovery_finish(d, &err);
        return;
    }

    f = &d->found[d->nfound++];
    ngx_memzero(f, sizeof(ngx_cms_shm_discovered_t));

    v = xmlGetProp(root, (const xmlChar *) "id");
    if (v) {
        ngx_cms_shm_set_name(&f->id, v, ngx_strlen(v));
        xmlFree(v);
    }

    for (child = root->children; child; child = child->next) {

        if (child->type != XML_ELEMENT_NODE) {
            continue;
        }

        if (xmlStrcmp(child->name, (const xmlChar *) "name") == 0) {
            v = xmlNodeGetContent(child);
            if (v) {
                ngx_cms_shm_set_name(&f->name, v, ngx_strlen(v));
                xmlFree(v);
            }

        } else if (xmlStrcmp(child->name, (const xmlChar *) "address") == 0) {
            v = xmlNodeGetContent(child);
            if (v) {
                ngx_cms_shm_set_text(&f->address, v, ngx_strlen(v));
                xmlFree(v);
            }
        }
    }

    xmlFreeDoc(doc);

    f->slot = ngx_cms_discovery_match(d->cluster, f->address.data,
                                      f->address.len);

    ngx_cms_discovery_next(d);
}


static void
ngx_cms_discovery_finish(ngx_cms_discovery_t *d, ngx_str_t *err)
{
    ngx_uint_t              i;
    ngx_cms_fo_cluster_t   *cl;
    ngx_cms_shm_cluster_t  *sh;

    cl = d->cluster;
    sh = cl->sh;

    ngx_shmtx_lock(&cl->shpool->mutex);

    sh->discovered_at = ngx_time();
    ngx_cms_shm_set_name(&sh->discovered_from, d->from->name.data,
                         d->from->name.len);

    if (err) {
        ngx_cms_shm_set_text(&sh->discovery_error, err->data, err->len);

    } else {
        sh->discovery_error.len = 0;
        sh->discovered_ok = 1;
        sh->discovered_via = d->from->slot;
        sh->ndiscovered = d->nfound;

        for (i = 0; i < d->nfound; i++) {
            sh->discovered[i] = d->found[i];
        }
    }

    ngx_shmtx_unlock(&cl->shpool->mutex);

    if (err) {
        ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                      "cms: upstream \"%V\": cluster discovery through "
                      "bridge \"%V\" failed: %V", &cl->name,
                      &d->from->name, err);

        d->next = ngx_current_msec
                  + ngx_min(cl->discovery_interval, NGX_CMS_DISCOVERY_RETRY);

    } else {
        ngx_cms_discovery_report(d);
    }

    ngx_destroy_pool(d->pool);
    d->pool = NULL;
}


/* scheme://host[:port][/...] against the configured bridges */

static ngx_uint_t
ngx_cms_discovery_match(ngx_cms_fo_cluster_t *cl, u_char *address,
    size_t len)
{
    u_char               *p, *last, *host, *colon;
    size_t                hlen;
    ngx_int_t             port, cport;
    ngx_uint_t            i;
    ngx_addr_t           *addr;
    ngx_cms_bridge_t  *b;
    u_char                text[NGX_SOCKADDR_STRLEN];

    p = address;
    last = address + len;
    port = 443;

    if (len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        p += 8;

    } else if (len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        p += 7;
        port = 80;
    }

    for (host = p; p < last && *p != '/'; p++) {
        /* void */
    }

    last = p;

    colon = NULL;

    if (host < last && *host == '[') {
        p = ngx_strlchr(host, last, ']');
        if (p == NULL) {
            return NGX_CMS_SHM_NO_SLOT;
        }

        if (p + 1 < last && p[1] == ':') {
            colon = p + 1;
        }

        hlen = p + 1 - host;

    } else {
        colon = ngx_strlchr(host, last, ':');
        hlen = (colon ? colon : last) - host;
    }

    if (colon) {
        port = ngx_atoi(colon + 1, last - colon - 1);
        if (port < 1 || port > 65535) {
            return NGX_CMS_SHM_NO_SLOT;
        }
    }

    if (hlen == 0) {
        return NGX_CMS_SHM_NO_SLOT;
    }

    b = cl->bridges.elts;

    for (i = 0; i < cl->bridges.nelts; i++) {
        addr = &b[i].addrs[0];
        cport = ngx_inet_get_port(addr->sockaddr);

        if (cport != port) {
            continue;
        }

        /* the host as configured */

        if (hlen == b[i].host.len
            && ngx_strncasecmp(host, b[i].host.data, hlen) == 0)
        {
            return b[i].slot;
        }

        /* or the address it resolved to */

        p = text + ngx_sock_ntop(addr->sockaddr, addr->socklen, text,
                                 sizeof(text), 0);

        if ((size_t) (p - text) == hlen
            && ngx_strncasecmp(host, text, hlen) == 0)
        {
            return b[i].slot;
        }

        if (host[0] == '[' && (size_t) (p - text) == hlen - 2
            && ngx_strncasecmp(host + 1, text, hlen - 2) == 0)
        {
            return b[i].slot;
        }
    }

    return NGX_CMS_SHM_NO_SLOT;
}


/*
 * Whether the configured bridge in "slot" belongs to the cluster found.
 * A bridge that is not clustered lists no bridge at all (Cisco's
 * example answer is <callBridges total="0"/>): it is a cluster of one,
 * itself, so the bridge that answered is not missing.  The error log,
 * the event and the status all use this one rule.
 */

ngx_uint_t
ngx_cms_discovery_has(ngx_cms_shm_discovered_t *found, ngx_uint_t n,
    ngx_uint_t via, ngx_uint_t slot)
{
    ngx_uint_t  i;

    if (n == 0) {
        return slot == via;
    }

    for (i = 0; i < n; i++) {
        if (found[i].slot == slot) {
            return 1;
        }
    }

    return 0;
}


/* the differences, once per change */

static void
ngx_cms_discovery_report(ngx_cms_discovery_t *d)
{
    u_char                *p;
    uint32_t               crc;
    ngx_cms_json_t         js;
    ngx_str_t              subject, detail;
    ngx_uint_t             i, j, unknown, missing;
    ngx_cms_bridge_t      *b;
    ngx_cms_fo_cluster_t  *cl;
    u_char                 text[2048];

    cl = d->cluster;
    b = cl->bridges.elts;

    ngx_cms_json_init(&js, text, sizeof(text));
    unknown = 0;
    missing = 0;

    /* which bridge was asked is not part of the difference */

    ngx_cms_json_open(&js, '{');
    ngx_cms_json_key_lit(&js, "upstream");
    ngx_cms_json_string(&js, cl->name.data, cl->name.len);
    ngx_cms_json_key_lit(&js, "clustered");
    ngx_cms_json_bool(&js, d->nfound != 0);
    ngx_cms_json_key_lit(&js, "unknown");
    ngx_cms_json_open(&js, '[');

    for (i = 0; i < d->nfound; i++) {
        if (d->found[i].slot != NGX_CMS_SHM_NO_SLOT) {
            continue;
        }

        unknown++;

        ngx_cms_json_open(&js, '{');
        ngx_cms_json_key_lit(&js, "name");
        ngx_cms_json_string(&js, d->found[i].name.data,
                            d->found[i].name.len);
        ngx_cms_json_key_lit(&js, "address");
        ngx_cms_json_string(&js, d->found[i].address.data,
                            d->found[i].address.len);
        ngx_cms_json_close(&js, '}');
    }

    ngx_cms_json_close(&js, ']');
    ngx_cms_json_key_lit(&js, "missing");
    ngx_cms_json_open(&js, '[');

    for (j = 0; j < cl->bridges.nelts; j++) {

        if (!ngx_cms_discovery_has(d->found, d->nfound, d->from->slot,
                                   b[j].slot))
        {
            missing++;
            ngx_cms_json_string(&js, b[j].name.data, b[j].name.len);
        }
    }

    ngx_cms_json_close(&js, ']');
    ngx_cms_json_close(&js, '}');

    if (!ngx_cms_json_fits(&js)) {
        /* a cluster too big to describe here: the sizes still tell */
        js.pos = ngx_slprintf(text, text + sizeof(text),
                              "{\"unknown\":%ui,\"missing\":%ui}",
                              unknown, missing);
    }

    p = js.pos;

    crc = ngx_crc32_short(text, p - text);

    if (crc == d->signature) {
        return;
    }

    d->signature = crc;

    if (unknown || missing) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "cms: upstream \"%V\": the cluster differs from the "
                      "configuration: %*s", &cl->name, p - text, text);

    } else if (d->nfound == 0) {
        ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                      "cms: upstream \"%V\": bridge \"%V\" is not "
                      "clustered (/callBridges lists none), as configured",
                      &cl->name, &d->from->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, cl->log, 0,
                      "cms: upstream \"%V\": the cluster matches the "
                      "configuration (%ui bridges)", &cl->name, d->nfound);
    }

    subject = cl->name;
    detail.data = text;
    detail.len = p - text;

    ngx_cms_failover_event(cl, "discovery", &subject, &detail);
}
