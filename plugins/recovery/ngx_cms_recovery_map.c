
/*
 * ngx_cms recovery plugin: the ids the clients know stay valid.
 *
 * A recovered call and its dial-outs have new ids on the new bridge;
 * TMS keeps the ones it was given ("DELETE /calls/<old>" ends its
 * meeting).  Every old id is mapped to the new one:
 *
 *   - in the shared zone, a ring of cms_recovery_max_calls x 17 maps
 *     (a call and up to 16 dial-outs each), so every worker translates
 *     without I/O; nothing is done at all while the ring is empty;
 *   - in Redis (map:<old>, and the hash "maps" that a worker reads when
 *     Redis becomes available), and published on the channel
 *     "recovery", so the other instances learn it at once.
 *
 * A request whose path names an old call, call leg or participant id is
 * proxied with the new one (ngx_cms_call_set_id(): the bridge hosting
 * the new call is chosen by it, and every plugin after this one sees
 * the request as the bridge will act on it; the audit keeps the
 * client's path).  The answers to those requests, and listings of
 * calls, call legs and participants, show the old ids again: the
 * Location header, an element's id="" and an element whose text is a
 * new id.  A call recovered twice maps old -> new -> newer: lookups
 * follow the chain, the answers show the first id.
 */


#include "ngx_cms_recovery.h"

#include <libxml/tree.h>


/* a call recovered more often than this in a day is followed no further */
#define NGX_CMS_REC_MAP_HOPS   4


static ngx_uint_t ngx_cms_rec_map_find(ngx_str_t *id, ngx_uint_t reverse,
    u_char *buf, ngx_str_t *out);
static ngx_cms_rec_map_t *ngx_cms_rec_map_find_locked(ngx_cms_rec_sh_t *sh,
    ngx_str_t *id, ngx_uint_t reverse);
static void ngx_cms_rec_map_message(ngx_str_t *channel, ngx_str_t *message,
    void *data);
static void ngx_cms_rec_map_watch(ngx_uint_t available, void *data);
static void ngx_cms_rec_map_loaded(ngx_cms_redis_reply_t *reply,
    ngx_str_t *error, void *data);
static ngx_uint_t ngx_cms_rec_map_xml(ngx_cms_call_t *call, xmlNodePtr node,
    ngx_uint_t depth);
static ngx_uint_t ngx_cms_rec_map_location(ngx_cms_call_t *call);
static ngx_uint_t ngx_cms_rec_map_id_ok(ngx_str_t *id);


static ngx_str_t  ngx_cms_rec_map_channel = ngx_string("recovery");

/* the plugin's per-request mark: translate the answer */
static u_char  ngx_cms_rec_map_mark;


/* a new map; share: tell Redis and the other instances */

void
ngx_cms_rec_map_add(ngx_str_t *old, ngx_str_t *now, ngx_uint_t share)
{
    u_char                   *p, now_text[NGX_TIME_T_LEN];
    ngx_str_t                 args[4], msg;
    ngx_cms_rec_sh_t         *sh;
    ngx_cms_rec_map_t        *e;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL || !ngx_cms_rec_map_id_ok(old)
        || !ngx_cms_rec_map_id_ok(now)
        || (old->len == now->len
            && ngx_strncmp(old->data, now->data, old->len) == 0))
    {
        return;
    }

    sh = rmcf->sh;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    /* every worker of an instance hears the message: added once */

    e = ngx_cms_rec_map_find_locked(sh, old, 0);

    if (e == NULL) {
        e = &sh->maps[sh->maps_next++ % sh->maps_max];

        if (sh->maps_used < sh->maps_max) {
            sh->maps_used++;
        }
    }

    e->old.len = old->len;
    ngx_memcpy(e->old.data, old->data, old->len);
    e->now.len = now->len;
    ngx_memcpy(e->now.data, now->data, now->len);
    e->since = ngx_time();

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    if (!share || rmcf->script == NULL) {
        return;
    }

    ngx_str_set(&args[0], "map");
    args[1] = *old;
    args[2] = *now;
    args[3].data = now_text;
    args[3].len = ngx_sprintf(now_text, "%T", ngx_time()) - now_text;

    (void) ngx_cms_rec_redis_call(NULL, NULL, 4, args);

    p = ngx_alloc(old->len + now->len + 1, ngx_cycle->log);
    if (p == NULL) {
        return;
    }

    msg.data = p;
    p = ngx_cpymem(p, old->data, old->len);
    *p++ = ' ';
    p = ngx_cpymem(p, now->data, now->len);
    msg.len = p - msg.data;

    (void) ngx_cms_redis_publish(NULL, &ngx_cms_rec_map_channel, &msg, NULL,
                                 NULL);

    ngx_free(msg.data);
}


static ngx_cms_rec_map_t *
ngx_cms_rec_map_find_locked(ngx_cms_rec_sh_t *sh, ngx_str_t *id,
    ngx_uint_t reverse)
{
    ngx_uint_t          i;
    ngx_cms_rec_id_t   *k;
    ngx_cms_rec_map_t  *e;

    for (i = 0; i < sh->maps_used; i++) {
        e = &sh->maps[i];
        k = reverse ? &e->now : &e->old;

        if (k->len == id->len
            && ngx_strncasecmp(k->data, id->data, id->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


/*
 * The id an old one has now (reverse 0), or the first id a client knew
 * of an object (reverse 1), into buf (NGX_CMS_REC_ID_LEN); 0 if none.
 */

static ngx_uint_t
ngx_cms_rec_map_find(ngx_str_t *id, ngx_uint_t reverse, u_char *buf,
    ngx_str_t *out)
{
    ngx_str_t                 key;
    ngx_uint_t                hops;
    ngx_cms_rec_map_t        *e;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL || rmcf->sh->maps_used == 0
        || id->len == 0 || id->len >= NGX_CMS_REC_ID_LEN)
    {
        return 0;
    }

    key = *id;
    out->len = 0;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    for (hops = 0; hops < NGX_CMS_REC_MAP_HOPS; hops++) {
        e = ngx_cms_rec_map_find_locked(rmcf->sh, &key, reverse);

        if (e == NULL) {
            break;
        }

        out->len = reverse ? e->old.len : e->now.len;
        ngx_memcpy(buf, reverse ? e->old.data : e->now.data, out->len);
        out->data = buf;
        key = *out;
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    return out->len != 0;
}


/*
 * The request hook: an old id in the path becomes the new one.  Also
 * marks the requests whose answers may show new ids: those translated,
 * and listings of calls, call legs and participants.
 */

ngx_int_t
ngx_cms_rec_map_request(ngx_cms_call_t *call)
{
    u_char                    buf[NGX_CMS_REC_ID_LEN];
    ngx_str_t                *id, now, *method;
    ngx_uint_t                i, translated;
    ngx_cms_rec_main_conf_t  *rmcf;

    static ngx_cms_call_str_e  ids[] = {
        NGX_CMS_CALL_OBJECT_ID, NGX_CMS_CALL_SUB_ID
    };

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL || rmcf->sh->maps_used == 0
        || !ngx_cms_call_num(call, NGX_CMS_CALL_CALL_SCOPED))
    {
        return NGX_DECLINED;
    }

    translated = 0;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        id = ngx_cms_call_str(call, ids[i]);

        if (!ngx_cms_rec_map_find(id, 0, buf, &now)) {
            continue;
        }

        if (ngx_cms_call_set_id(call, ids[i], &now) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN,
                          ngx_cms_call_request(call)->connection->log, 0,
                          "cms recovery: \"%V\" (now \"%V\") could not be "
                          "translated in the path", id, &now);
            continue;
        }

        translated++;
    }

    method = ngx_cms_call_str(call, NGX_CMS_CALL_METHOD);

    if (translated
        || (method->len == 3 && ngx_strncmp(method->data, "GET", 3) == 0))
    {
        if (translated) {
            ngx_cms_rec_count(&rmcf->sh->translated, 1);
        }

        *ngx_cms_call_ctx(call, &ngx_cms_recovery_plugin) =
                                                        &ngx_cms_rec_map_mark;
        ngx_cms_want_response_body(call);
    }

    return NGX_DECLINED;
}


/* the response hook: the new ids shown as the old ones */

ngx_int_t
ngx_cms_rec_map_response(ngx_cms_call_t *call)
{
    xmlDocPtr                 doc;
    ngx_uint_t                n;
    ngx_cms_rec_main_conf_t  *rmcf;

    rmcf = ngx_cms_rec_conf();

    if (rmcf == NULL
        || *ngx_cms_call_ctx(call, &ngx_cms_recovery_plugin) == NULL
        || ngx_cms_call_num(call, NGX_CMS_CALL_STATUS) != NGX_HTTP_OK)
    {
        return NGX_DECLINED;
    }

    n = ngx_cms_rec_map_location(call);

    doc = ngx_cms_response_xml(call);

    if (doc && ngx_cms_rec_map_xml(call, xmlDocGetRootElement(doc), 0)) {
        ngx_cms_response_changed(call);
        n++;
    }

    if (n) {
        ngx_cms_rec_count(&rmcf->sh->translated, 1);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_rec_map_location(ngx_cms_call_t *call)
{
    u_char     *p, *s, *last, *q, buf[NGX_CMS_REC_ID_LEN];
    ngx_str_t  *location, seg, old, out;
    ngx_uint_t  n;

    location = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION);

    if (location->len == 0 || location->len > 1024) {
        return 0;
    }

    out.data = ngx_pnalloc(ngx_cms_call_request(call)->pool,
                           location->len * NGX_CMS_REC_ID_LEN);
    if (out.data == NULL) {
        return 0;
    }

    /* each path segment that is a new id */

    n = 0;
    q = out.data;
    p = location->data;
    last = p + location->len;

    while (p < last) {
        s = p;

        while (p < last && *p != '/' && *p != ' ') {
            p++;
        }

        seg.data = s;
        seg.len = p - s;

        if (seg.len && ngx_cms_rec_map_find(&seg, 1, buf, &old)) {
            q = ngx_cpymem(q, old.data, old.len);
            n++;

        } else {
            q = ngx_cpymem(q, seg.data, seg.len);
        }

        if (p < last) {
            *q++ = *p++;
        }
    }

    if (n == 0) {
        return 0;
    }

    out.len = q - out.data;

    return ngx_cms_response_set_location(call, &out) == NGX_OK;
}


/* id="..." and <call>...</call>: ids, in elements of every depth */

static ngx_uint_t
ngx_cms_rec_map_xml(ngx_cms_call_t *call, xmlNodePtr node, ngx_uint_t depth)
{
    u_char      buf[NGX_CMS_REC_ID_LEN + 1];
    xmlChar    *v;
    ngx_str_t   s, old;
    ngx_uint_t  n;
    xmlNodePtr  c;

    n = 0;

    if (depth > 8) {
        return 0;
    }

    for ( /* void */ ; node; node = node->next) {

        if (node->type != XML_ELEMENT_NODE) {
            continue;
        }

        v = xmlGetProp(node, (const xmlChar *) "id");

        if (v) {
            s.data = v;
            s.len = ngx_strlen(v);

            if (ngx_cms_rec_map_find(&s, 1, buf, &old)) {
                buf[old.len] = '\0';
                xmlSetProp(node, (const xmlChar *) "id", buf);
                n++;
            }

            xmlFree(v);
        }

        c = node->children;

        if (c && c->next == NULL && c->type == XML_TEXT_NODE && c->content) {
            s.data = c->content;
            s.len = ngx_strlen(c->content);

            if (ngx_cms_rec_map_find(&s, 1, buf, &old)) {
                buf[old.len] = '\0';
                xmlNodeSetContent(node, buf);
                n++;
            }

            continue;
        }

        n += ngx_cms_rec_map_xml(call, c, depth + 1);
    }

    return n;
}


/* Redis: the maps of the other instances */

ngx_int_t
ngx_cms_rec_map_init_process(ngx_cms_rec_main_conf_t *rmcf)
{
    if (rmcf->script == NULL) {
        return NGX_OK;
    }

    if (ngx_cms_redis_subscribe(&ngx_cms_rec_map_channel,
                                ngx_cms_rec_map_message, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_cms_redis_watch(ngx_cms_rec_map_watch, NULL);
}


/* "<old> <new>", published by the instance that recovered */

static void
ngx_cms_rec_map_message(ngx_str_t *channel, ngx_str_t *message, void *data)
{
    u_char     *sp;
    ngx_str_t   old, now;

    sp = ngx_strlchr(message->data, message->data + message->len, ' ');
    if (sp == NULL) {
        return;
    }

    old.data = message->data;
    old.len = sp - message->data;
    now.data = sp + 1;
    now.len = message->data + message->len - now.data;

    ngx_cms_rec_map_add(&old, &now, 0);
}


/* Redis (back): what was published meanwhile is in the hash "maps" */

static void
ngx_cms_rec_map_watch(ngx_uint_t available, void *data)
{
    ngx_str_t  args[1];

    if (!available) {
        return;
    }

    ngx_str_set(&args[0], "maps");

    (void) ngx_cms_rec_redis_call(ngx_cms_rec_map_loaded, NULL, 1, args);
}


static void
ngx_cms_rec_map_loaded(ngx_cms_redis_reply_t *reply, ngx_str_t *error,
    void *data)
{
    size_t      i;
    ngx_str_t   old, now;

    if (error || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || reply->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        old.data = (u_char *) reply->element[i]->str;
        old.len = reply->element[i]->len;
        now.data = (u_char *) reply->element[i + 1]->str;
        now.len = reply->element[i + 1]->len;

        ngx_cms_rec_map_add(&old, &now, 0);
    }
}


/* ids as CMS makes them; a message from Redis is checked too */

static ngx_uint_t
ngx_cms_rec_map_id_ok(ngx_str_t *id)
{
    u_char  c;
    size_t  i;

    if (id->len == 0 || id->len >= NGX_CMS_REC_ID_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9')
              || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}
