
/*
 * ngx_cms: the JSON writer (lib/ngx_cms_json.c), the one every JSON text
 * of the project is written with: audit records, status, admin, metrics
 * details, events.  Strings go through the one escaper
 * (ngx_cms_json_escape.h): valid UTF-8 passes as is, anything else is
 * escaped, so the text is always valid JSON on one line.
 *
 * Pure code: plain buffers in, no nginx types, no allocation of its own,
 * no mutable global state, so it can be tested and fuzzed alone.
 *
 * A writer writes into the buffer it was given for as long as the text
 * fits.  When it does not, a writer with a grow function (the core's
 * pool-backed one, util/ngx_cms_json_pool.c) asks it for a bigger buffer;
 * one without (or whose grow failed) only counts from there on: the
 * caller offers a buffer of a likely size (an audit record is about
 * 1 KB) and, in the rare case it was too small, runs the same calls again
 * into a buffer of the counted length.  Having a single description of
 * the output rules out a length that disagrees with what is written; the
 * common case is one pass.
 */


#ifndef _NGX_CMS_JSON_H_INCLUDED_
#define _NGX_CMS_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* strings are escaped by the project's one escaper */
#include "ngx_cms_json_escape.h"


#define NGX_CMS_JSON_MAX_DEPTH  8


typedef struct ngx_cms_json_s  ngx_cms_json_t;

/*
 * Makes room for at least need more bytes: moves the text to a bigger
 * buffer and sets start, pos and end; returns 0 when it cannot.
 */
typedef int (*ngx_cms_json_grow_pt)(ngx_cms_json_t *j, size_t need);

struct ngx_cms_json_s {
    unsigned char         *pos;        /* NULL: counting only */
    unsigned char         *end;
    unsigned char         *start;
    size_t                 len;        /* counted, once pos is NULL */
    ngx_cms_json_grow_pt   grow;       /* NULL: a fixed buffer */
    void                  *data;       /* the grow function's */
    unsigned               depth;
    unsigned char          more[NGX_CMS_JSON_MAX_DEPTH]; /* per level */
};


/* a writer into size bytes of buf; buf NULL: count only */
void ngx_cms_json_init(ngx_cms_json_t *j, unsigned char *buf,
    size_t size);

/* the length of the whole text so far, written or counted */
#define ngx_cms_json_length(j)                                         \
    ((j)->pos ? (size_t) ((j)->pos - (j)->start) : (j)->len)

/* the whole text is in the buffer (nothing failed to fit or to grow) */
#define ngx_cms_json_fits(j)  ((j)->pos != NULL)

/* bracket: '{' or '[' to open, '}' or ']' to close */
void ngx_cms_json_open(ngx_cms_json_t *j, char bracket);
void ngx_cms_json_close(ngx_cms_json_t *j, char bracket);

/* a member name of the innermost object, with the comma it needs */
void ngx_cms_json_key(ngx_cms_json_t *j, const char *name);
void ngx_cms_json_key_n(ngx_cms_json_t *j,
    const unsigned char *name, size_t len);

/*
 * A member name given as a string literal that needs no escaping (the
 * record's own field names): written as is, without looking at it.
 */
#define ngx_cms_json_key_lit(j, name)                                   \
    ngx_cms_json_key_lit_n(j, ",\"" name "\":", sizeof(name) + 3)

void ngx_cms_json_key_raw(ngx_cms_json_t *j, const char *text,
    size_t len);

/* text known to be valid JSON (or part of a string value), as is */
void ngx_cms_json_raw(ngx_cms_json_t *j, const void *s,
    size_t len);

/*
 * text: ',' and the member name with its colon.  A record writes some
 * thirty of these: the usual case (a member after the first, room left)
 * is inline, one copy of a length the compiler knows; the rest goes
 * through ngx_cms_json_key_raw(), which adds the comma itself.
 */
static inline void
ngx_cms_json_key_lit_n(ngx_cms_json_t *j, const char *text,
    size_t len)
{
    if (j->pos != NULL
        && j->depth - 1 < NGX_CMS_JSON_MAX_DEPTH
        && j->more[j->depth - 1] == '}'
        && len <= (size_t) (j->end - j->pos))
    {
        memcpy(j->pos, text, len);
        j->pos += len;
        return;
    }

    ngx_cms_json_key_raw(j, text + 1, len - 1);
}

/* values */
/*
 * Members of an object after its first one, with the key a literal:
 * ngx_cms_json_member_str(j, "user", s, len) writes ,"user":"..." (null
 * when len is 0), ngx_cms_json_member_uint() and ngx_cms_json_member_bool()
 * a number and true/false.  When the buffer surely has room they are
 * written in one go, inline (a record of thirty members pays no call per
 * member); otherwise the general writer does it, growing or counting.
 */

#define ngx_cms_json_member_str(j, key, s, len)                         \
    ngx_cms_json_member_str_n(j, ",\"" key "\":", sizeof(key) + 3, s, len)

/*
 * A string the caller knows needs no escaping, so the escaper is not run:
 * printable ASCII without '"' or '\\' (an HTTP method as nginx parsed it,
 * an operation name from the classifier's table, an id the module made,
 * an address nginx printed).  Anything else goes through member_str.
 */

#define ngx_cms_json_member_token(j, key, s, len)                       \
    ngx_cms_json_member_token_n(j, ",\"" key "\":", sizeof(key) + 3, s, len)

#define ngx_cms_json_member_raw(j, key, s, len)                         \
    ngx_cms_json_member_raw_n(j, ",\"" key "\":", sizeof(key) + 3, s, len)

#define ngx_cms_json_member_uint(j, key, n)                             \
    ngx_cms_json_member_uint_n(j, ",\"" key "\":", sizeof(key) + 3, n)

#define ngx_cms_json_member_bool(j, key, b)                             \
    ngx_cms_json_member_bool_n(j, ",\"" key "\":", sizeof(key) + 3, b)

/* need more bytes surely fit, after a member of an object that has one */
#define ngx_cms_json_member_room(j, need)                               \
    ((j)->pos != NULL                                                   \
     && (j)->depth - 1 < NGX_CMS_JSON_MAX_DEPTH                         \
     && (j)->more[(j)->depth - 1] == '}'                                \
     && (need) <= (size_t) ((j)->end - (j)->pos))

/* the longest string written inline: 6 * len must not overflow */
#define NGX_CMS_JSON_INLINE_MAX  65536

void ngx_cms_json_string(ngx_cms_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_json_string_or_null(ngx_cms_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_json_uint(ngx_cms_json_t *j, uint64_t n);
unsigned char *ngx_cms_json_uint_digits(unsigned char *p, uint64_t n);
void ngx_cms_json_bool(ngx_cms_json_t *j, int b);

static inline void
ngx_cms_json_member_str_n(ngx_cms_json_t *j, const char *key, size_t klen,
    const unsigned char *s, size_t len)
{
    if (len <= NGX_CMS_JSON_INLINE_MAX
        && ngx_cms_json_member_room(j, klen + 6 * len + 4))
    {
        memcpy(j->pos, key, klen);
        j->pos += klen;

        if (len == 0) {
            memcpy(j->pos, "null", 4);
            j->pos += 4;
            return;
        }

        *j->pos++ = '"';
        j->pos = ngx_cms_json_escape_utf8(j->pos, s, len);
        *j->pos++ = '"';
        return;
    }

    ngx_cms_json_key_raw(j, key + 1, klen - 1);
    ngx_cms_json_string_or_null(j, s, len);
}

static inline void
ngx_cms_json_member_token_n(ngx_cms_json_t *j, const char *key, size_t klen,
    const unsigned char *s, size_t len)
{
    if (len != 0 && ngx_cms_json_member_room(j, klen + len + 2)) {
        memcpy(j->pos, key, klen);
        j->pos += klen;
        *j->pos++ = '"';
        memcpy(j->pos, s, len);
        j->pos += len;
        *j->pos++ = '"';
        return;
    }

    ngx_cms_json_member_str_n(j, key, klen, s, len);
}

/* a member whose value is JSON text known to be valid, copied as is */

static inline void
ngx_cms_json_member_raw_n(ngx_cms_json_t *j, const char *key, size_t klen,
    const void *s, size_t len)
{
    if (ngx_cms_json_member_room(j, klen + len)) {
        memcpy(j->pos, key, klen);
        memcpy(j->pos + klen, s, len);
        j->pos += klen + len;
        return;
    }

    ngx_cms_json_key_raw(j, key + 1, klen - 1);
    ngx_cms_json_raw(j, s, len);
}

static inline void
ngx_cms_json_member_uint_n(ngx_cms_json_t *j, const char *key, size_t klen,
    uint64_t n)
{
    if (ngx_cms_json_member_room(j, klen + 20)) {
        memcpy(j->pos, key, klen);
        j->pos = ngx_cms_json_uint_digits(j->pos + klen, n);
        return;
    }

    ngx_cms_json_key_raw(j, key + 1, klen - 1);
    ngx_cms_json_uint(j, n);
}

static inline void
ngx_cms_json_member_bool_n(ngx_cms_json_t *j, const char *key, size_t klen,
    int b)
{
    if (ngx_cms_json_member_room(j, klen + 5)) {
        memcpy(j->pos, key, klen);
        j->pos += klen;

        if (b) {
            memcpy(j->pos, "true", 4);
            j->pos += 4;

        } else {
            memcpy(j->pos, "false", 5);
            j->pos += 5;
        }

        return;
    }

    ngx_cms_json_key_raw(j, key + 1, klen - 1);
    ngx_cms_json_bool(j, b);
}

/* a member "name":"value" of an object, both escaped, the first or not */

static inline void
ngx_cms_json_member_kv(ngx_cms_json_t *j, const unsigned char *name,
    size_t nlen, const unsigned char *value, size_t vlen)
{
    unsigned char  *more;

    if (j->pos != NULL
        && j->depth - 1 < NGX_CMS_JSON_MAX_DEPTH
        && nlen <= NGX_CMS_JSON_INLINE_MAX
        && vlen <= NGX_CMS_JSON_INLINE_MAX
        && 6 * (nlen + vlen) + 6 <= (size_t) (j->end - j->pos))
    {
        more = &j->more[j->depth - 1];

        if (*more == '}') {
            *j->pos++ = ',';

        } else if (*more == '{') {
            *more = '}';

        } else {
            goto general;
        }

        *j->pos++ = '"';
        j->pos = ngx_cms_json_escape_utf8(j->pos, name, nlen);
        memcpy(j->pos, "\":\"", 3);
        j->pos = ngx_cms_json_escape_utf8(j->pos + 3, value, vlen);
        *j->pos++ = '"';
        return;
    }

general:

    ngx_cms_json_key_n(j, name, nlen);
    ngx_cms_json_string(j, value, vlen);
}


void ngx_cms_json_cstring(ngx_cms_json_t *j, const char *s);
void ngx_cms_json_null(ngx_cms_json_t *j);

/* JSON text known to be valid (ngx_cms_json_valid()), copied as is */
void ngx_cms_json_verbatim(ngx_cms_json_t *j,
    const unsigned char *s, size_t len);

/* a string value written in pieces: begin, any number of parts, end */
void ngx_cms_json_string_begin(ngx_cms_json_t *j);
void ngx_cms_json_string_part(ngx_cms_json_t *j,
    const unsigned char *s, size_t len);
void ngx_cms_json_string_cpart(ngx_cms_json_t *j, const char *s);
void ngx_cms_json_string_end(ngx_cms_json_t *j);

/* a piece of a string value known to need no escaping (a literal) */
#define ngx_cms_json_string_lit(j, s)                                   \
    ngx_cms_json_raw(j, s, sizeof(s) - 1)

/* is this exactly one valid JSON value (RFC 8259), at most depth deep? */
int ngx_cms_json_valid(const unsigned char *s, size_t len);


#endif /* _NGX_CMS_JSON_H_INCLUDED_ */
