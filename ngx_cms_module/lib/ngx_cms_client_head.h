
/*
 * ngx_cms: the header block of a bridge's answer to the internal HTTP
 * client (ngx_cms_client.c).  Pure code: plain buffers, no nginx types,
 * no allocation, so it can be tested and fuzzed alone.
 */


#ifndef _NGX_CMS_CLIENT_HEAD_H_INCLUDED_
#define _NGX_CMS_CLIENT_HEAD_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef struct {
    unsigned              status;
    int64_t               content_length;     /* -1: none */
    const unsigned char  *location;           /* NULL: none */
    size_t                location_len;
    const unsigned char  *content_type;       /* NULL: none */
    size_t                content_type_len;
} ngx_cms_client_head_t;


/* the length of the header block (up to its blank line) in p, or 0 */

size_t ngx_cms_client_head_end(const unsigned char *p, size_t len);

/*
 * The status line and the few headers the callers use, from a header
 * block of len bytes (ngx_cms_client_head_end()).  Strict: anything odd
 * is an error, not a guess.  Returns NULL, or what went wrong, worded to
 * follow the peer's name ("sent an invalid status line").  The spans in
 * h point into p.
 */

const char *ngx_cms_client_head_parse(const unsigned char *p, size_t len,
    ngx_cms_client_head_t *h);


#endif /* _NGX_CMS_CLIENT_HEAD_H_INCLUDED_ */
