
/*
 * ngx_cms: answers of our own, shaped like the bridge's.
 *
 * A CMS-aware client (TMS, CMM, scripts built on PsCms or MIVIDAS) treats
 * a 4xx with a failureDetails body as a failed API call and reads the
 * element name; an nginx HTML error page would confuse it.  The
 * human-readable reason goes in a header, where the client's logs show it.
 */


#include "ngx_cms.h"


#define NGX_CMS_FAILURE_HEAD  "<?xml version=\"1.0\"?>\n<failureDetails><"
#define NGX_CMS_FAILURE_TAIL  " /></failureDetails>"


static ngx_str_t  ngx_cms_reason_header = ngx_string("X-Cms-Proxy-Reason");


static size_t
ngx_cms_attr_len(const char *attr, const char *value)
{
    if (attr == NULL || value == NULL) {
        return 0;
    }

    return 1 + ngx_strlen(attr) + 2
           + ngx_strlen(value)
           + ngx_escape_html(NULL, (u_char *) value, ngx_strlen(value))
           + 1;
}


static u_char *
ngx_cms_attr_write(u_char *p, const char *attr, const char *value)
{
    size_t  len;

    if (attr == NULL || value == NULL) {
        return p;
    }

    len = ngx_strlen(value);

    *p++ = ' ';
    p = ngx_cpymem(p, attr, ngx_strlen(attr));
    *p++ = '='; *p++ = '"';
    p = (u_char *) ngx_escape_html(p, (u_char *) value, len);
    *p++ = '"';

    return p;
}


/*
 * Sends <failureDetails><element attr="value" attr2="value2" />
 * </failureDetails> with the status and finalizes the request: the
 * caller, a phase handler, returns NGX_DONE.
 */

ngx_int_t
ngx_cms_send_failure(ngx_http_request_t *r, ngx_uint_t status,
    const char *element, const char *attr, const char *value,
    const char *attr2, const char *value2, ngx_str_t *reason)
{
    size_t            len;
    u_char           *p;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    len = sizeof(NGX_CMS_FAILURE_HEAD) - 1 + ngx_strlen(element)
          + ngx_cms_attr_len(attr, value) + ngx_cms_attr_len(attr2, value2)
          + sizeof(NGX_CMS_FAILURE_TAIL) - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    p = ngx_cpymem(b->last, NGX_CMS_FAILURE_HEAD,
                   sizeof(NGX_CMS_FAILURE_HEAD) - 1);
    p = ngx_cpymem(p, element, ngx_strlen(element));
    p = ngx_cms_attr_write(p, attr, value);
    p = ngx_cms_attr_write(p, attr2, value2);
    b->last = ngx_cpymem(p, NGX_CMS_FAILURE_TAIL,
                         sizeof(NGX_CMS_FAILURE_TAIL) - 1);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (reason && reason->len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        h->hash = 1;
        h->key = ngx_cms_reason_header;
        h->value = *reason;
    }

    if (ngx_cms_request_id_header(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&r->headers_out.content_type, "text/xml");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}
