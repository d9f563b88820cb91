/*
 * libFuzzer target for ngx_cms_api.c.
 *
 * Input: one byte picking the method, then the path.  Besides memory
 * errors (ASan/UBSan), it checks the invariants callers rely on:
 * every span lies inside the path, names are consistent with flags,
 * every operation returned is accepted by ngx_cms_api_operation_valid(),
 * and the classification does not depend on letter case or on one
 * trailing slash.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_api.h"


#define check(cond)  if (!(cond)) { abort(); }


static void
check_span(const uint8_t *path, size_t len, ngx_cms_span_t span)
{
    if (span.len) {
        check(span.data >= path);
        check(span.data + span.len <= path + len);
    }
}


/* the span spells name, in any letter case */

static int
span_caseeq(ngx_cms_span_t span, const char *name)
{
    size_t         i;
    unsigned char  a, b;

    if (span.len != strlen(name)) {
        return 0;
    }

    for (i = 0; i < span.len; i++) {
        a = span.data[i];
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


static int
valid(const char *op)
{
    return ngx_cms_api_operation_valid((const unsigned char *) op,
                                       strlen(op));
}


static void
check_req(const uint8_t *path, size_t len, ngx_cms_method_e method,
    ngx_cms_api_rc_e rc, const ngx_cms_api_req_t *req)
{
    const char  *op;

    check(rc == NGX_CMS_API_OK || rc == NGX_CMS_API_NOT_API
          || rc == NGX_CMS_API_BAD_PATH);
    check(req->operation != NULL);
    check(req->write == (method == NGX_CMS_METHOD_POST
                         || method == NGX_CMS_METHOD_PUT
                         || method == NGX_CMS_METHOD_DELETE));

    check_span(path, len, req->collection_raw);
    check_span(path, len, req->object_id);
    check_span(path, len, req->sub_raw);
    check_span(path, len, req->sub_id);
    check_span(path, len, req->call_id);

    if (rc == NGX_CMS_API_BAD_PATH) {
        check(req->bad_reason != NULL);
        check(strcmp(req->operation, "unknown") == 0);
        check(!req->known);
        return;
    }

    check(req->bad_reason == NULL);

    if (rc == NGX_CMS_API_NOT_API) {
        check(strcmp(req->operation, "unknown") == 0);
        check(req->collection == NULL && req->collection_raw.len == 0);
        return;
    }

    check(valid(req->operation));
    check(req->known == (strcmp(req->operation, "unknown") != 0));

    if (req->known) {
        check(req->collection != NULL);
        check(method != NGX_CMS_METHOD_OTHER);
    }

    if (req->collection) {
        check(span_caseeq(req->collection_raw, req->collection));
    }

    if (req->sub_collection) {
        check(req->collection != NULL);
        check(span_caseeq(req->sub_raw, req->sub_collection));
    }

    if (req->call_scoped) {
        check(req->collection != NULL);
    }

    /* positions fill in order */

    if (req->object_id.len) {
        check(req->collection_raw.len);
    }

    if (req->sub_raw.len) {
        check(req->object_id.len);
    }

    if (req->sub_id.len) {
        check(req->sub_raw.len);
    }

    if (req->call_id.len) {
        check(req->call_scoped);
        check(req->call_id.data == req->object_id.data
              && req->call_id.len == req->object_id.len);
        check(strcmp(req->collection, "calls") == 0);
    }

    op = ngx_cms_api_refine(req, 1);
    check(valid(op));
    check(ngx_cms_api_refine(req, 0) == req->operation);
}


static int
same(const ngx_cms_api_req_t *a, const uint8_t *pa,
    const ngx_cms_api_req_t *b, const uint8_t *pb)
{
    return strcmp(a->operation, b->operation) == 0
           && a->collection == b->collection
           && a->sub_collection == b->sub_collection
           && a->known == b->known
           && a->call_scoped == b->call_scoped
           && a->object_id.len == b->object_id.len
           && (a->object_id.len == 0
               || a->object_id.data - pa == b->object_id.data - pb)
           && a->call_id.len == b->call_id.len;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t             i, len;
    uint8_t           *copy;
    const uint8_t     *path;
    ngx_cms_method_e   method;
    ngx_cms_api_rc_e   rc, rc2;
    ngx_cms_api_req_t  req, req2;

    if (size == 0) {
        return 0;
    }

    method = (ngx_cms_method_e) (data[0] % 5);
    path = data + 1;
    len = size - 1;

    /* an exact-size copy, so that ASan sees any read past the end */

    copy = malloc(len + 1);
    check(copy != NULL);
    memcpy(copy, path, len);

    rc = ngx_cms_api_classify(copy, len, method, &req);
    check_req(copy, len, method, rc, &req);

    /* letter case never changes the classification */

    for (i = 0; i < len; i++) {
        if (copy[i] >= 'a' && copy[i] <= 'z') {
            copy[i] &= ~0x20;
        }
    }

    rc2 = ngx_cms_api_classify(copy, len, method, &req2);
    check_req(copy, len, method, rc2, &req2);
    check(rc2 == rc);

    if (rc == NGX_CMS_API_OK) {
        check(same(&req, copy, &req2, copy));
    }

    /* nor does one trailing slash */

    memcpy(copy, path, len);

    if (rc != NGX_CMS_API_BAD_PATH && len > 1 && copy[len - 1] != '/'
        && memchr(copy, '?', len) == NULL)
    {
        copy[len] = '/';

        rc2 = ngx_cms_api_classify(copy, len + 1, method, &req2);
        check_req(copy, len + 1, method, rc2, &req2);
        check(rc2 == rc);

        if (rc == NGX_CMS_API_OK) {
            check(same(&req, copy, &req2, copy));
        }
    }

    /* policy-name validation and matching take any bytes */

    if (ngx_cms_api_operation_valid(copy, len)) {
        check(len > 0);
    }

    (void) ngx_cms_api_operation_match(copy, len, req.operation);

    free(copy);

    return 0;
}
