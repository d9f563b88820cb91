
/*
 * ngx_cms: JSON string escaping (ngx_cms_json_escape.c), the one escaper
 * every JSON text of the project goes through.  Valid UTF-8 passes as it
 * is; bytes of no well-formed sequence and control characters are
 * escaped, so the text is always valid JSON on one line.  Pure code.
 */


#ifndef _NGX_CMS_JSON_ESCAPE_H_INCLUDED_
#define _NGX_CMS_JSON_ESCAPE_H_INCLUDED_


#include <stddef.h>


/* the escaped form of len bytes, without quotes, is at most 6 * len */
#define NGX_CMS_JSON_ESCAPED_MAX(len)  (6 * (len))

size_t ngx_cms_json_escaped_len(const unsigned char *s, size_t len);
unsigned char *ngx_cms_json_escape_utf8(unsigned char *dst,
    const unsigned char *s, size_t len);

/* the length of a well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0 */
size_t ngx_cms_json_utf8(const unsigned char *s, size_t len);


#endif /* _NGX_CMS_JSON_ESCAPE_H_INCLUDED_ */
