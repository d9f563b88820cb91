
/*
 * ngx_cms audit: writing JSON text.
 *
 * Pure code: plain buffers in, no nginx types, no allocation, no mutable
 * global state, so it can be tested and fuzzed alone.
 *
 * A writer runs twice over the same calls: first without a buffer, to
 * count, then with one of exactly that size, to write.  Having a single
 * description of the output rules out a length that disagrees with what
 * is written.
 */


#ifndef _NGX_CMS_AUDIT_JSON_H_INCLUDED_
#define _NGX_CMS_AUDIT_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_CMS_AUDIT_JSON_MAX_DEPTH  8


typedef struct {
    unsigned char  *pos;        /* NULL: count only */
    size_t          len;        /* bytes counted or written so far */
    unsigned        depth;
    unsigned char   more[NGX_CMS_AUDIT_JSON_MAX_DEPTH]; /* state per level */
} ngx_cms_audit_json_t;


/* a writer that counts (buf == NULL) or writes into buf */
void ngx_cms_audit_json_init(ngx_cms_audit_json_t *j, unsigned char *buf);

/* bracket: '{' or '[' to open, '}' or ']' to close */
void ngx_cms_audit_json_open(ngx_cms_audit_json_t *j, char bracket);
void ngx_cms_audit_json_close(ngx_cms_audit_json_t *j, char bracket);

/* a member name of the innermost object, with the comma it needs */
void ngx_cms_audit_json_key(ngx_cms_audit_json_t *j, const char *name);
void ngx_cms_audit_json_key_n(ngx_cms_audit_json_t *j,
    const unsigned char *name, size_t len);

/* values */
void ngx_cms_audit_json_string(ngx_cms_audit_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_audit_json_cstring(ngx_cms_audit_json_t *j, const char *s);
void ngx_cms_audit_json_string_or_null(ngx_cms_audit_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_audit_json_uint(ngx_cms_audit_json_t *j, uint64_t n);
void ngx_cms_audit_json_bool(ngx_cms_audit_json_t *j, int b);
void ngx_cms_audit_json_null(ngx_cms_audit_json_t *j);

/* JSON text known to be valid (ngx_cms_audit_json_valid()), copied as is */
void ngx_cms_audit_json_verbatim(ngx_cms_audit_json_t *j,
    const unsigned char *s, size_t len);

/* a string value written in pieces: begin, any number of parts, end */
void ngx_cms_audit_json_string_begin(ngx_cms_audit_json_t *j);
void ngx_cms_audit_json_string_part(ngx_cms_audit_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_audit_json_string_cpart(ngx_cms_audit_json_t *j, const char *s);
void ngx_cms_audit_json_string_end(ngx_cms_audit_json_t *j);

/* the escaped form of len bytes, without quotes */
size_t ngx_cms_audit_json_escaped_len(const unsigned char *s, size_t len);
unsigned char *ngx_cms_audit_json_escape(unsigned char *dst,
    const unsigned char *s, size_t len);

/* is this exactly one valid JSON value (RFC 8259), at most depth deep? */
int ngx_cms_audit_json_valid(const unsigned char *s, size_t len);


#endif /* _NGX_CMS_AUDIT_JSON_H_INCLUDED_ */
