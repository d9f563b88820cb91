/*
 * Differential test of ngx_cms_api_classify(): the classifier with its
 * lookup tables against the walk over the node table it replaced
 * (reproduced below as it was, as ref_*), on every shape of path made
 * from the table's own names and on many mutations of them.  Both must
 * give the same rc, reason, names, spans and flags for every input.
 *
 * The file includes ngx_cms_api.c, so both read the same node table: a
 * node added later is covered without touching this test.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_api.c"


static ngx_cms_api_rc_e ref_classify(const unsigned char *path, size_t len,
    ngx_cms_method_e method, ngx_cms_api_req_t *req);
static const char *ref_check(const unsigned char *path, size_t *len);
static const ngx_cms_api_node_t *ref_find_top(const unsigned char *p,
    size_t len);
static const ngx_cms_api_node_t *ref_find_sub(
    const ngx_cms_api_node_t *subs, const ngx_cms_span_t *seg);
static const char *ref_operation(const ngx_cms_api_node_t *node,
    const ngx_cms_span_t *id, ngx_cms_method_e method);
static int ref_caseeq(const unsigned char *s, const char *name, size_t len);


/* ---- the reference: the classifier before the tables, unchanged ---- */


static ngx_cms_api_rc_e
ref_classify(const unsigned char *path, size_t len,
    ngx_cms_method_e method, ngx_cms_api_req_t *req)
{
    size_t                     i, n, k;
    const char                *reason;
    const unsigned char       *p, *end, *q;
    ngx_cms_span_t             seg[NGX_CMS_API_MAX_SEGMENTS];
    ngx_cms_span_t            *id;
    const ngx_cms_api_node_t  *node, *sub;

    memset(req, 0, sizeof(ngx_cms_api_req_t));

    req->operation = NGX_CMS_API_UNKNOWN;
    req->write = (method == NGX_CMS_METHOD_POST
                  || method == NGX_CMS_METHOD_PUT
                  || method == NGX_CMS_METHOD_DELETE);

    /*
     * The whole path is checked before the prefix is: a path that only
     * looks foreign ("/x/../api/v1/calls", "/%61pi/v1/calls") may still
     * be normalised into an API path by the bridge, and must not slip
     * through as NOT_API.
     */

    reason = ref_check(path, &len);
    if (reason) {
        req->bad_reason = reason;
        return NGX_CMS_API_BAD_PATH;
    }

    if (len < NGX_CMS_API_PREFIX_LEN
        || !ref_caseeq(path, NGX_CMS_API_PREFIX,
                               NGX_CMS_API_PREFIX_LEN)
        || (len > NGX_CMS_API_PREFIX_LEN
            && path[NGX_CMS_API_PREFIX_LEN] != '/'))
    {
        return NGX_CMS_API_NOT_API;
    }

    /* split what follows /api/v1 into segments; none are empty by now */

    n = 0;
    p = path + NGX_CMS_API_PREFIX_LEN;
    end = path + len;

    while (p < end) {
        p++;    /* '/' */

        q = memchr(p, '/', end - p);
        if (q == NULL) {
            q = end;
        }

        if (n == NGX_CMS_API_MAX_SEGMENTS) {
            req->bad_reason = "path too deep";
            return NGX_CMS_API_BAD_PATH;
        }

        if ((size_t) (q - p) > NGX_CMS_API_MAX_SEGMENT_LEN) {
            req->bad_reason = "path segment too long";
            return NGX_CMS_API_BAD_PATH;
        }

        seg[n].data = p;
        seg[n].len = q - p;
        n++;

        p = q;
    }

    if (n == 0) {
        /* "/api/v1" itself: under the API, but names nothing */
        return NGX_CMS_API_OK;
    }

    node = ref_find_top(seg[0].data, end - seg[0].data);

    k = 1;

    if (node) {
        req->collection = node->name;

        for (i = 0; i < node->len; i++) {
            if (node->name[i] == '/') {
                k++;
            }
        }

        req->call_scoped = (node->flags & NGX_CMS_API_CALL_SCOPED) ? 1 : 0;
    }

    req->collection_raw.data = seg[0].data;
    req->collection_raw.len = seg[k - 1].data + seg[k - 1].len - seg[0].data;

    /* the rest is read by position: <id>, <sub>, <sub id> */

    i = k;

    if (i < n) {
        req->object_id = seg[i++];
    }

    if (i < n) {
        req->sub_raw = seg[i++];
    }

    if (i < n) {
        req->sub_id = seg[i++];
    }

    if (node == NULL) {
        return NGX_CMS_API_OK;
    }

    if ((node->flags & NGX_CMS_API_CALLS)
        && req->object_id.len
        && !(req->object_id.len == 1 && req->object_id.data[0] == '*'))
    {
        req->call_id = req->object_id;
    }

    sub = NULL;

    if (req->sub_raw.len) {
        sub = ref_find_sub(node->subs, &req->sub_raw);
        if (sub == NULL) {
            return NGX_CMS_API_OK;
        }

        req->sub_collection = sub->name;
    }

    if (i < n) {
        /* deeper than anything CMS has */
        return NGX_CMS_API_OK;
    }

    if (sub) {
        if (req->object_id.len == 1 && req->object_id.data[0] == '*') {
            /* "all objects" is only meaningful at the last level */
            return NGX_CMS_API_OK;
        }

        node = sub;
        id = &req->sub_id;

    } else {
        id = &req->object_id;
    }

    req->operation = ref_operation(node, id, method);
    req->known = (req->operation != NULL);

    if (req->operation == NULL) {
        req->operation = NGX_CMS_API_UNKNOWN;
    }

    return NGX_CMS_API_OK;
}


static const char *
ref_check(const unsigned char *path, size_t *len)
{
    size_t                i, n, start;
    unsigned char         c;
    const unsigned char  *q;

    n = *len;

    q = memchr(path, '?', n);
    if (q) {
        n = q - path;
    }

    if (n == 0 || path[0] != '/') {
        return "path is not absolute";
    }

    if (n > 1 && path[n - 1] == '/') {
        n--;
    }

    *len = n;

    if (n == 1) {
        return NULL;
    }

    start = 1;

    for (i = 1; i <= n; i++) {

        if (i == n || path[i] == '/') {

            switch (i - start) {

            case 0:
                return "empty path segment";

            case 1:
                if (path[start] == '.') {
                    return "dot segment in path";
                }
                break;

            case 2:
                if (path[start] == '.' && path[start + 1] == '.') {
                    return "dot segment in path";
                }
                break;
            }

            start = i + 1;
            continue;
        }

        c = path[i];

        if (c < 0x21 || c == 0x7f) {
            return "control character or space in path";
        }

        switch (c) {

        case '%':
            return "percent-encoding in path";

        case '\\':
            return "backslash in path";

        case ';':
            return "semicolon in path";

        case '#':
            return "fragment in path";
        }
    }

    return NULL;
}


static const ngx_cms_api_node_t *
ref_find_top(const unsigned char *p, size_t len)
{
    const ngx_cms_api_node_t  *node, *best;

    best = NULL;

    for (node = ngx_cms_api_nodes; node->name; node++) {

        if (node->len > len
            || (node->len < len && p[node->len] != '/')
            || (best && best->len >= node->len))
        {
            continue;
        }

        if (ref_caseeq(p, node->name, node->len)) {
            best = node;
        }
    }

    return best;
}


static const ngx_cms_api_node_t *
ref_find_sub(const ngx_cms_api_node_t *subs,
    const ngx_cms_span_t *seg)
{
    const ngx_cms_api_node_t  *sub;

    if (subs == NULL) {
        return NULL;
    }

    for (sub = subs; sub->name; sub++) {
        if (sub->len == seg->len
            && ref_caseeq(seg->data, sub->name, sub->len))
        {
            return sub;
        }
    }

    return NULL;
}


static int
ref_caseeq(const unsigned char *s, const char *name, size_t len)
{
    size_t         i;
    unsigned char  a, b;

    for (i = 0; i < len; i++) {
        a = s[i];
        b = (unsigned char) name[i];

        if (a >= 'A' && a <= 'Z') {
            a |= 0x20;
        }

        if (b >= 'A' && b <= 'Z') {
            b |= 0x20;
        }

        if (a != b) {
            return 0;
        }
    }

    return 1;
}


static const char *
ref_operation(const ngx_cms_api_node_t *node,
    const ngx_cms_span_t *id, ngx_cms_method_e method)
{
    if ((unsigned) method >= NGX_CMS_API_NMETHODS) {
        return NULL;
    }

    if (id->len == 0) {
        return node->ops[method];
    }

    if (id->len == 1 && id->data[0] == '*') {

        if ((node->flags & NGX_CMS_API_OBJECTS)
            && (method == NGX_CMS_METHOD_PUT
                || method == NGX_CMS_METHOD_DELETE))
        {
            return node->ops[method];
        }

        return NULL;
    }

    return node->ops[NGX_CMS_API_NMETHODS + method];
}




/* ---- the comparison ---- */


static size_t  compared;


static int
str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }

    return strcmp(a, b) == 0;
}


static int
span_same(ngx_cms_span_t a, ngx_cms_span_t b)
{
    return a.len == b.len && (a.len == 0 || a.data == b.data);
}


/*
 * The byte-by-byte check (a build without SSE2) against the one in use,
 * segment for segment.
 */

static void
compare_checks(const unsigned char *path, size_t len)
{
    size_t           i, n, nsegs, ref_nsegs;
    const char      *reason, *ref_reason;
    ngx_cms_span_t   segs[NGX_CMS_API_MAX_SEGMENTS + 2];
    ngx_cms_span_t   ref_segs[NGX_CMS_API_MAX_SEGMENTS + 2];

    n = len;
    reason = ngx_cms_api_check(path, &n, segs, &nsegs);

    if (n < 2 || path[0] != '/') {
        return;
    }

    ref_nsegs = 0;
    ref_reason = ngx_cms_api_check_bytes(path, 1, 1, n, ref_segs, &ref_nsegs);

    if (str_same(reason, ref_reason) && (reason || nsegs == ref_nsegs)) {

        for (i = 0; reason == NULL && i < nsegs
                    && i < NGX_CMS_API_MAX_SEGMENTS + 2; i++)
        {
            if (!span_same(segs[i], ref_segs[i])) {
                fail_msg("\"%.*s\": segment %zu differs", (int) len, path,
                         i);
            }
        }

        return;
    }

    fail_msg("\"%.*s\": check \"%s\" (%zu segments), bytewise \"%s\" "
             "(%zu)", (int) len, path, reason ? reason : "", nsegs,
             ref_reason ? ref_reason : "", ref_nsegs);
}


static void
compare_one(const unsigned char *path, size_t len, ngx_cms_method_e method)
{
    ngx_cms_api_rc_e   rc, ref_rc;
    ngx_cms_api_req_t  req, ref;

    rc = ngx_cms_api_classify(path, len, method, &req);
    ref_rc = ref_classify(path, len, method, &ref);

    compared++;

    compare_checks(path, len);

    if (rc == ref_rc
        && str_same(req.bad_reason, ref.bad_reason)
        && req.collection == ref.collection
        && span_same(req.collection_raw, ref.collection_raw)
        && span_same(req.object_id, ref.object_id)
        && req.sub_collection == ref.sub_collection
        && span_same(req.sub_raw, ref.sub_raw)
        && span_same(req.sub_id, ref.sub_id)
        && str_same(req.operation, ref.operation)
        && span_same(req.call_id, ref.call_id)
        && req.known == ref.known
        && req.call_scoped == ref.call_scoped
        && req.write == ref.write)
    {
        return;
    }

    fail_msg("%s \"%.*s\": rc %d/%d reason \"%s\"/\"%s\" collection "
             "\"%s\"/\"%s\" sub \"%s\"/\"%s\" operation \"%s\"/\"%s\"",
             ngx_cms_method_name(method), (int) len, path, rc, ref_rc,
             req.bad_reason ? req.bad_reason : "",
             ref.bad_reason ? ref.bad_reason : "",
             req.collection ? req.collection : "",
             ref.collection ? ref.collection : "",
             req.sub_collection ? req.sub_collection : "",
             ref.sub_collection ? ref.sub_collection : "",
             req.operation, ref.operation);
}


static void
compare_all_methods(const char *path, size_t len)
{
    int  m;

    for (m = NGX_CMS_METHOD_GET; m <= NGX_CMS_METHOD_OTHER; m++) {
        compare_one((const unsigned char *) path, len, (ngx_cms_method_e) m);
    }
}


/* a deterministic generator: the same paths on every run */

static uint32_t  seed = 12345;

static uint32_t
next_random(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}


/* the path in one of four spellings: as written, lower, upper, mixed */

static void
spell(char *dst, const char *src, size_t len, int how)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (how == 1 && c >= 'A' && c <= 'Z') {
            c |= 0x20;

        } else if (how == 2 && c >= 'a' && c <= 'z') {
            c &= ~0x20;

        } else if (how == 3 && (i & 1) && c >= 'a' && c <= 'z') {
            c &= ~0x20;
        }

        dst[i] = c;
    }

    dst[len] = '\0';
}


static const char  *ids[] = {
    "", "/ce5ee392-8f2b-4bd5-a0d6-0b4c1b6f3f0e", "/*", "/x", NULL
};

static const char  *tails[] = {
    "", "/", "?", "?filter=a", "/?x", "//", "/.", "/..", NULL
};


/* every name below a node, and a name no node has */

static void
shapes_below(const char *top, const ngx_cms_api_node_t *node)
{
    char                       path[1024], spelled[1024];
    const char               **id, **sid, **tail;
    const ngx_cms_api_node_t  *sub;
    int                        how;

    for (id = ids; *id; id++) {
        for (tail = tails; *tail; tail++) {
            for (how = 0; how < 4; how++) {
                snprintf(path, sizeof(path), "/api/v1/%s%s%s", top, *id,
                         *tail);
                spell(spelled, path, strlen(path), how);
                compare_all_methods(spelled, strlen(spelled));
            }
        }

        if (node == NULL || node->subs == NULL) {
            continue;
        }

        for (sub = node->subs; sub->name; sub++) {
            for (sid = ids; *sid; sid++) {
                for (tail = tails; *tail; tail++) {
                    for (how = 0; how < 4; how++) {
                        snprintf(path, sizeof(path), "/api/v1/%s%s/%s%s%s",
                                 top, *id, sub->name, *sid, *tail);
                        spell(spelled, path, strlen(path), how);
                        compare_all_methods(spelled, strlen(spelled));

                        snprintf(path, sizeof(path),
                                 "/api/v1/%s%s/%s%s/deeper%s",
                                 top, *id, sub->name, *sid, *tail);
                        spell(spelled, path, strlen(path), how);
                        compare_all_methods(spelled, strlen(spelled));
                    }
                }
            }
        }

        snprintf(path, sizeof(path), "/api/v1/%s%s/noSuchSub/1", top, *id);
        compare_all_methods(path, strlen(path));
    }
}


static void
test_every_shape(void **state)
{
    char                       name[256];
    size_t                     i;
    const ngx_cms_api_node_t  *node;

    (void) state;

    for (node = ngx_cms_api_nodes; node->name; node++) {
        shapes_below(node->name, node);

        /* every leading part of a longer name, and a name cut short */

        for (i = 1; i < node->len; i++) {
            memcpy(name, node->name, i);
            name[i] = '\0';
            shapes_below(name, NULL);
        }

        /* a name with a letter too many, and one missing */

        snprintf(name, sizeof(name), "%sx", node->name);
        shapes_below(name, NULL);
    }

    shapes_below("noSuchCollection", NULL);
    shapes_below("system", NULL);
    shapes_below("system/configuration", NULL);
    shapes_below("system/status/extra", NULL);

    print_message("%zu classifications compared\n", compared);
}


static void
test_prefixes(void **state)
{
    static const char  *paths[] = {
        "", "/", "?", "api/v1/calls", "/api", "/api/", "/api/v1", "/API/V1/",
        "/api/v1?", "/api/v1/", "/api/v2/calls", "/api/v1x/calls",
        "/apix/v1/calls", "/x/../api/v1/calls", "/%61pi/v1/calls",
        "/api/v1//calls", "/api/v1/./calls", "/api/v1/../calls",
        "/api/v1/calls/.", "/api/v1/calls/..", "/api/v1/calls/...",
        "/api/v1/calls/.x", "/api/v1/a/b/c/d/e/f/g/h", "/api/v1/a/b/c/d/e/f/g/h/i",
        "/a;b", "/a#b", "/a\\b", "/a b", "/a\x7f", "/a\x01", "/a?\x01",
        "/api/v1/calls?%", "/api/v1/calls\x80\xff", "//", "/.", "/..",
        NULL
    };

    const char  **p;
    char          seg[300];

    (void) state;

    for (p = paths; *p; p++) {
        compare_all_methods(*p, strlen(*p));
    }

    /* the segment length limit, exactly and one over */

    memset(seg, 'a', sizeof(seg));
    memcpy(seg, "/api/v1/", 8);
    compare_all_methods(seg, 8 + NGX_CMS_API_MAX_SEGMENT_LEN);
    compare_all_methods(seg, 8 + NGX_CMS_API_MAX_SEGMENT_LEN + 1);
}


/* random edits of real paths: every byte class at every place */

static void
test_mutations(void **state)
{
    static const char   alphabet[] = "/.%?;#\\ \x7f\x01\x80\xc3\xa9*aAzZ0-_";
    char                path[1024], base[1024];
    size_t              len, i, edits, pos;
    uint32_t            r;
    const ngx_cms_api_node_t  *node, *sub;
    int                 round;

    (void) state;

    for (round = 0; round < 200000; round++) {
        r = next_random();

        node = &ngx_cms_api_nodes[r % (sizeof(ngx_cms_api_nodes)
                                       / sizeof(ngx_cms_api_nodes[0]) - 1)];
        r = next_random();

        if (node->subs && (r & 1)) {
            for (sub = node->subs, i = 0; sub[1].name && i < (r >> 1) % 4;
                 sub++, i++)
            {
                /* void */
            }

            snprintf(base, sizeof(base), "/api/v1/%s/%s/%s/%s", node->name,
                     ids[1] + 1, sub->name, ids[1] + 1);

        } else {
            snprintf(base, sizeof(base), "/api/v1/%s/%s", node->name,
                     ids[1] + 1);
        }

        len = strlen(base);
        memcpy(path, base, len);

        edits = 1 + next_random() % 3;

        for (i = 0; i < edits && len > 0; i++) {
            r = next_random();
            pos = (r >> 4) % len;

            switch (r & 3) {

            case 0:    /* replace */
                path[pos] = alphabet[next_random() % (sizeof(alphabet) - 1)];
                break;

            case 1:    /* delete */
                memmove(path + pos, path + pos + 1, len - pos - 1);
                len--;
                break;

            case 2:    /* insert */
                memmove(path + pos + 1, path + pos, len - pos);
                path[pos] = alphabet[next_random() % (sizeof(alphabet) - 1)];
                len++;
                break;

            default:   /* cut */
                len = pos;
                break;
            }
        }

        compare_one((const unsigned char *) path, len,
                    (ngx_cms_method_e) (next_random() % 5));
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shape),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
