
/*
 * ngx_cms audit: writing JSON text.
 *
 * Every string goes out as valid UTF-8 JSON whatever the bytes were:
 * parameter values are decoded from the request body and can hold
 * anything.  Well-formed UTF-8 is copied; a byte that is not part of a
 * well-formed sequence is written as \u00XX (its Latin-1 reading), so the
 * line stays valid JSON and the byte value is still visible to an
 * auditor.  Control characters are escaped, so one record is always one
 * line.
 */


#include <string.h>

#include "ngx_cms_audit_json.h"


#define NGX_CMS_AUDIT_JSON_VALID_DEPTH  16


static void ngx_cms_audit_json_put(ngx_cms_audit_json_t *j, const void *s,
    size_t len);
static void ngx_cms_audit_json_value(ngx_cms_audit_json_t *j);
static size_t ngx_cms_audit_json_utf8(const unsigned char *s, size_t len);
static const unsigned char *ngx_cms_audit_json_skip_value(
    const unsigned char *p, const unsigned char *end, int depth);
static const unsigned char *ngx_cms_audit_json_skip_ws(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_cms_audit_json_skip_string(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_cms_audit_json_skip_number(
    const unsigned char *p, const unsigned char *end);
static const unsigned char *ngx_cms_audit_json_skip_word(
    const unsigned char *p, const unsigned char *end, const char *word);


static const char  ngx_cms_audit_json_hex[] = "0123456789abcdef";


void
ngx_cms_audit_json_init(ngx_cms_audit_json_t *j, unsigned char *buf)
{
    memset(j, 0, sizeof(ngx_cms_audit_json_t));
    j->pos = buf;
}


static void
ngx_cms_audit_json_put(ngx_cms_audit_json_t *j, const void *s, size_t len)
{
    if (j->pos) {
        memcpy(j->pos, s, len);
        j->pos += len;
    }

    j->len += len;
}


/*
 * Before a value: the comma that separates it from the previous element
 * of an array.  Inside an object the key has written it already.
 */

static void
ngx_cms_audit_json_value(ngx_cms_audit_json_t *j)
{
    if (j->depth == 0 || j->depth > NGX_CMS_AUDIT_JSON_MAX_DEPTH) {
        return;
    }

    if (j->more[j->depth - 1] == ']') {
        ngx_cms_audit_json_put(j, ",", 1);
        return;
    }

    if (j->more[j->depth - 1] == '[') {
        j->more[j->depth - 1] = ']';
    }
}


void
ngx_cms_audit_json_open(ngx_cms_audit_json_t *j, char bracket)
{
    ngx_cms_audit_json_value(j);
    ngx_cms_audit_json_put(j, &bracket, 1);

    /*
     * more[] per level: '{' or '}' for an object without or with
     * members, '[' or ']' likewise for an array.
     */

    if (j->depth < NGX_CMS_AUDIT_JSON_MAX_DEPTH) {
        j->more[j->depth] = (unsigned char) bracket;
    }

    j->depth++;
}


void
ngx_cms_audit_json_close(ngx_cms_audit_json_t *j, char bracket)
{
    ngx_cms_audit_json_put(j, &bracket, 1);

    if (j->depth) {
        j->depth--;
    }
}


void
ngx_cms_audit_json_key(ngx_cms_audit_json_t *j, const char *name)
{
    ngx_cms_audit_json_key_n(j, (const unsigned char *) name, strlen(name));
}


void
ngx_cms_audit_json_key_n(ngx_cms_audit_json_t *j, const unsigned char *name,
    size_t len)
{
    if (j->depth && j->depth <= NGX_CMS_AUDIT_JSON_MAX_DEPTH) {
        if (j->more[j->depth - 1] == '}') {
            ngx_cms_audit_json_put(j, ",", 1);

        } else {
            j->more[j->depth - 1] = '}';
        }
    }

    ngx_cms_audit_json_put(j, "\"", 1);

    if (j->pos) {
        j->pos = ngx_cms_audit_json_escape(j->pos, name, len);
    }

    j->len += ngx_cms_audit_json_escaped_len(name, len);

    ngx_cms_audit_json_put(j, "\":", 2);
}


void
ngx_cms_audit_json_string(ngx_cms_audit_json_t *j, const unsigned char *s,
    size_t len)
{
    ngx_cms_audit_json_string_begin(j);
    ngx_cms_audit_json_string_part(j, s, len);
    ngx_cms_audit_json_string_end(j);
}


void
ngx_cms_audit_json_cstring(ngx_cms_audit_json_t *j, const char *s)
{
    ngx_cms_audit_json_string(j, (const unsigned char *) s, strlen(s));
}


void
ngx_cms_audit_json_string_or_null(ngx_cms_audit_json_t *j,
    const unsigned char *s, size_t len)
{
    if (len == 0) {
        ngx_cms_audit_json_null(j);
        return;
    }

    ngx_cms_audit_json_string(j, s, len);
}


void
ngx_cms_audit_json_uint(ngx_cms_audit_json_t *j, uint64_t n)
{
    unsigned char   buf[24], *p;

    p = buf + sizeof(buf);

    do {
        *--p = (unsigned char) ('0' + n % 10);
        n /= 10;
    } while (n);

    ngx_cms_audit_json_value(j);
    ngx_cms_audit_json_put(j, p, buf + sizeof(buf) - p);
}


void
ngx_cms_audit_json_bool(ngx_cms_audit_json_t *j, int b)
{
    ngx_cms_audit_json_value(j);

    if (b) {
        ngx_cms_audit_json_put(j, "true", 4);

    } else {
        ngx_cms_audit_json_put(j, "false", 5);
    }
}


void
ngx_cms_audit_json_null(ngx_cms_audit_json_t *j)
{
    ngx_cms_audit_json_value(j);
    ngx_cms_audit_json_put(j, "null", 4);
}


void
ngx_cms_audit_json_verbatim(ngx_cms_audit_json_t *j, const unsigned char *s,
    size_t len)
{
    size_t  i;

    ngx_cms_audit_json_value(j);

    /*
     * Valid JSON has raw CR and LF only as whitespace between tokens;
     * as spaces they keep the record on one line and mean the same.
     */

    if (j->pos) {
        for (i = 0; i < len; i++) {
            j->pos[i] = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
        }

        j->pos += len;
    }

    j->len += len;
}


void
ngx_cms_audit_json_string_begin(ngx_cms_audit_json_t *j)
{
    ngx_cms_audit_json_value(j);
    ngx_cms_audit_json_put(j, "\"", 1);
}


void
ngx_cms_audit_json_string_part(ngx_cms_audit_json_t *j, const unsigned char *s,
    size_t len)
{
    if (j->pos) {
        j->pos = ngx_cms_audit_json_escape(j->pos, s, len);
    }

    j->len += ngx_cms_audit_json_escaped_len(s, len);
}


void
ngx_cms_audit_json_string_cpart(ngx_cms_audit_json_t *j, const char *s)
{
    ngx_cms_audit_json_string_part(j, (const unsigned char *) s, strlen(s));
}


void
ngx_cms_audit_json_string_end(ngx_cms_audit_json_t *j)
{
    ngx_cms_audit_json_put(j, "\"", 1);
}


/* the length of a well-formed UTF-8 sequence at s, 0 if there is none */

static size_t
ngx_cms_audit_json_utf8(const unsigned char *s, size_t len)
{
    size_t    n, i;
    uint32_t  c, min;

    c = s[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
        min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
        min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (s[i] & 0x3f);
    }

    /* overlong forms, UTF-16 surrogates and beyond U+10FFFF */

    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
        return 0;
    }

    return n;
}


size_t
ngx_cms_audit_json_escaped_len(const unsigned char *s, size_t len)
{
    size_t  i, n, out;

    out = 0;

    for (i = 0; i < len; /* void */ ) {

        switch (s[i]) {

        case '"':
        case '\\':
        case '\b':
        case '\f':
        case '\n':
        case '\r':
        case '\t':
            out += 2;
            i++;
            continue;
        }

        if (s[i] < 0x20 || s[i] == 0x7f) {
            out += 6;
            i++;
            continue;
        }

        n = ngx_cms_audit_json_utf8(s + i, len - i);

        if (n == 0) {
            out += 6;
            i++;
            continue;
        }

        out += n;
        i += n;
    }

    return out;
}


unsigned char *
ngx_cms_audit_json_escape(unsigned char *dst, const unsigned char *s,
    size_t len)
{
    size_t         i, n;
    unsigned char  c;

    for (i = 0; i < len; /* void */ ) {
        c = s[i];

        switch (c) {

        case '"':
        case '\\':
            *dst++ = '\\';
            *dst++ = c;
            i++;
            continue;

        case '\b':
            *dst++ = '\\';
            *dst++ = 'b';
            i++;
            continue;

        case '\f':
            *dst++ = '\\';
            *dst++ = 'f';
            i++;
            continue;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            i++;
            continue;

        case '\r':
            *dst++ = '\\';
            *dst++ = 'r';
            i++;
            continue;

        case '\t':
            *dst++ = '\\';
            *dst++ = 't';
            i++;
            continue;
        }

        n = (c < 0x20 || c == 0x7f) ? 0
                                    : ngx_cms_audit_json_utf8(s + i, len - i);

        if (n == 0) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = (unsigned char) ngx_cms_audit_json_hex[c >> 4];
            *dst++ = (unsigned char) ngx_cms_audit_json_hex[c & 0xf];
            i++;
            continue;
        }

        memcpy(dst, s + i, n);
        dst += n;
        i += n;
    }

    return dst;
}


int
ngx_cms_audit_json_valid(const unsigned char *s, size_t len)
{
    const unsigned char  *p, *end;

    end = s + len;

    p = ngx_cms_audit_json_skip_ws(s, end);
    p = ngx_cms_audit_json_skip_value(p, end, 0);

    if (p == NULL) {
        return 0;
    }

    return ngx_cms_audit_json_skip_ws(p, end) == end;
}


static const unsigned char *
ngx_cms_audit_json_skip_value(const unsigned char *p, const unsigned char *end,
    int depth)
{
    unsigned char  close;

    if (p == NULL || p == end) {
        return NULL;
    }

    switch (*p) {

    case '"':
        return ngx_cms_audit_json_skip_string(p, end);

    case 't':
        return ngx_cms_audit_json_skip_word(p, end, "true");

    case 'f':
        return ngx_cms_audit_json_skip_word(p, end, "false");

    case 'n':
        return ngx_cms_audit_json_skip_word(p, end, "null");

    case '{':
    case '[':
        break;

    default:
        return ngx_cms_audit_json_skip_number(p, end);
    }

    if (depth >= NGX_CMS_AUDIT_JSON_VALID_DEPTH) {
        return NULL;
    }

    close = (*p == '{') ? '}' : ']';

    p = ngx_cms_audit_json_skip_ws(p + 1, end);

    if (p < end && *p == close) {
        return p + 1;
    }

    for ( ;; ) {

        if (close == '}') {
            if (p == end || *p != '"') {
                return NULL;
            }

            p = ngx_cms_audit_json_skip_string(p, end);
            p = ngx_cms_audit_json_skip_ws(p, end);

            if (p == NULL || p == end || *p != ':') {
                return NULL;
            }

            p = ngx_cms_audit_json_skip_ws(p + 1, end);
        }

        p = ngx_cms_audit_json_skip_value(p, end, depth + 1);
        p = ngx_cms_audit_json_skip_ws(p, end);

        if (p == NULL || p == end) {
            return NULL;
        }

        if (*p == close) {
            return p + 1;
        }

        if (*p != ',') {
            return NULL;
        }

        p = ngx_cms_audit_json_skip_ws(p + 1, end);
    }
}


static const unsigned char *
ngx_cms_audit_json_skip_ws(const unsigned char *p, const unsigned char *end)
{
    if (p == NULL) {
        return NULL;
    }

    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


static const unsigned char *
ngx_cms_audit_json_skip_string(const unsigned char *p,
    const unsigned char *end)
{
    int     i;
    size_t  n;

    p++;    /* '"' */

    while (p < end) {

        if (*p == '"') {
            return p + 1;
        }

        if (*p < 0x20) {
            return NULL;
        }

        if (*p == '\\') {
            p++;

            if (p == end) {
                return NULL;
            }

            switch (*p) {

            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                p++;
                continue;

            case 'u':
                p++;

                for (i = 0; i < 4; i++, p++) {
                    if (p == end
                        || !((*p >= '0' && *p <= '9')
                             || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')))
                    {
                        return NULL;
                    }
                }

                continue;

            default:
                return NULL;
            }
        }

        n = ngx_cms_audit_json_utf8(p, end - p);
        if (n == 0) {
            return NULL;
        }

        p += n;
    }

    return NULL;
}


static const unsigned char *
ngx_cms_audit_json_skip_number(const unsigned char *p,
    const unsigned char *end)
{
    const unsigned char  *digits;

    if (p < end && *p == '-') {
        p++;
    }

    if (p == end) {
        return NULL;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return NULL;
    }

    if (p < end && *p == '.') {
        digits = ++p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == digits) {
            return NULL;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        digits = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == digits) {
            return NULL;
        }
    }

    return p;
}


static const unsigned char *
ngx_cms_audit_json_skip_word(const unsigned char *p, const unsigned char *end,
    const char *word)
{
    size_t  n;

    n = strlen(word);

    if ((size_t) (end - p) < n || memcmp(p, word, n) != 0) {
        return NULL;
    }

    return p + n;
}
