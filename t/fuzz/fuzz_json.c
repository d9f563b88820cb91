/*
 * libFuzzer target for the one JSON writer (ngx_cms_module/lib/
 * ngx_cms_json.c), which the audit records, status, admin and events are
 * written with.
 *
 * The input is a small program: it drives the writer through a document
 * (objects, arrays, keys, strings whole or in pieces, numbers, booleans,
 * null, verbatim JSON) and, alongside, builds the document it expects in
 * a canonical form.  The writer's text is then parsed back by an
 * independent JSON parser (below, strict RFC 8259) into the same form;
 * the two must be equal.  Strings are compared as code points: bytes
 * that are well-formed UTF-8 stand for themselves, any other byte for
 * U+0000..U+00FF (the writer's \u00XX), which is the writer's promise.
 *
 * Also checked: the text is written into a buffer of a size taken from
 * the input; when it does not fit, the counted length must be exactly
 * what a second pass into a buffer of that length writes; the text is
 * one line of valid UTF-8, and ngx_cms_json_valid() accepts it; and a
 * writer that grows its buffer (as the core's pool writer does) from the
 * same first size writes exactly the same text.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_cms_json.h"


#define check(cond)  if (!(cond)) { abort(); }

#define MAX_CANON  (1024 * 1024)


/* the input, consumed as a program */

typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
} in_t;


static unsigned
next(in_t *in)
{
    return (in->p < in->end) ? *in->p++ : 0;
}


static const uint8_t *
take(in_t *in, size_t *len)
{
    const uint8_t  *s;

    if (*len > (size_t) (in->end - in->p)) {
        *len = in->end - in->p;
    }

    s = in->p;
    in->p += *len;

    return s;
}


/* a canonical form: tagged, length-free, built on both sides */

typedef struct {
    uint8_t  *buf;
    size_t    len;
} canon_t;


static void
put(canon_t *c, const void *s, size_t len)
{
    check(c->len + len <= MAX_CANON);
    memcpy(c->buf + c->len, s, len);
    c->len += len;
}


static void
put1(canon_t *c, uint8_t b)
{
    put(c, &b, 1);
}


static void
put_cp(canon_t *c, uint32_t cp)
{
    uint8_t  b[4];

    b[0] = (uint8_t) (cp >> 24);
    b[1] = (uint8_t) (cp >> 16);
    b[2] = (uint8_t) (cp >> 8);
    b[3] = (uint8_t) cp;
    put(c, b, 4);
}


/* an independent reading of bytes as code points (RFC 3629) */

static void
expect_chars(canon_t *c, const uint8_t *s, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {
        cp = s[i];
        n = 1;

        if (cp < 0x80) {
            put_cp(c, cp);
            continue;
        }

        if ((cp & 0xe0) == 0xc0) {
            n = 2; cp &= 0x1f; min = 0x80;
        } else if ((cp & 0xf0) == 0xe0) {
            n = 3; cp &= 0x0f; min = 0x800;
        } else if ((cp & 0xf8) == 0xf0) {
            n = 4; cp &= 0x07; min = 0x10000;
        } else {
            n = 0; min = 0;
        }

        for (k = 1; n && k < n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }

        if (n == 0 || cp < min || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
        {
            put_cp(c, s[i]);
            n = 1;
            continue;
        }

        put_cp(c, cp);
    }
}


/* the strict parser of the writer's output */

typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
} json_t;


static int parse_value(json_t *js, canon_t *c, int depth);


static void
skip_ws(json_t *js)
{
    while (js->p < js->end
           && (*js->p == ' ' || *js->p == '\t' || *js->p == '\n'
               || *js->p == '\r'))
    {
        js->p++;
    }
}


static int
hex4(json_t *js, uint32_t *v)
{
    int      i;
    uint8_t  ch;

    if (js->end - js->p < 4) {
        return -1;
    }

    *v = 0;

    for (i = 0; i < 4; i++) {
        ch = *js->p++;
        *v <<= 4;

        if (ch >= '0' && ch <= '9') {
            *v |= ch - '0';
        } else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
            *v |= (ch | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
    }

    return 0;
}


static int
parse_string(json_t *js, canon_t *c)
{
    size_t    n;
    uint8_t   ch;
    uint32_t  cp, lo;

    if (js->p >= js->end || *js->p != '"') {
        return -1;
    }

    js->p++;
    put1(c, 'S');

    for ( ;; ) {
        if (js->p >= js->end) {
            return -1;
        }

        ch = *js->p;

        if (ch == '"') {
            js->p++;
            put1(c, 'E');
            return 0;
        }

        if (ch < 0x20) {
            return -1;
        }

        if (ch != '\\') {
            /* raw text must be well-formed UTF-8: read one character */
            n = (ch < 0x80) ? 1 : (ch & 0xe0) == 0xc0 ? 2
                : (ch & 0xf0) == 0xe0 ? 3 : (ch & 0xf8) == 0xf0 ? 4 : 0;

            if (n == 0 || (size_t) (js->end - js->p) < n) {
                return -1;
            }

            {
                /* expect_chars() of it: one code point, or not UTF-8 */
                uint8_t  tmp[16];
                canon_t  t = { tmp, 0 };

                expect_chars(&t, js->p, n);

                if (t.len != 4) {
                    return -1;
                }

                put(c, tmp, 4);
            }

            js->p += n;
            continue;
        }

        js->p++;

        if (js->p >= js->end) {
            return -1;
        }

        ch = *js->p++;

        switch (ch) {
        case '"': put_cp(c, '"'); break;
        case '\\': put_cp(c, '\\'); break;
        case '/': put_cp(c, '/'); break;
        case 'b': put_cp(c, '\b'); break;
        case 'f': put_cp(c, '\f'); break;
        case 'n': put_cp(c, '\n'); break;
        case 'r': put_cp(c, '\r'); break;
        case 't': put_cp(c, '\t'); break;

        case 'u':
            if (hex4(js, &cp) != 0) {
                return -1;
            }

            if (cp >= 0xd800 && cp <= 0xdbff
                && js->end - js->p >= 6 && js->p[0] == '\\'
                && js->p[1] == 'u')
            {
                js->p += 2;

                if (hex4(js, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    return -1;
                }

                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }

            put_cp(c, cp);
            break;

        default:
            return -1;
        }
    }
}


static int
parse_number(json_t *js, canon_t *c)
{
    const uint8_t  *start;

    start = js->p;

    if (js->p < js->end && *js->p == '-') {
        js->p++;
    }

    if (js->p >= js->end || *js->p < '0' || *js->p > '9') {
        return -1;
    }

    if (*js->p == '0') {
        js->p++;

    } else {
        while (js->p < js->end && *js->p >= '0' && *js->p <= '9') {
            js->p++;
        }
    }

    if (js->p < js->end && *js->p == '.') {
        js->p++;

        if (js->p >= js->end || *js->p < '0' || *js->p > '9') {
            return -1;
        }

        while (js->p < js->end && *js->p >= '0' && *js->p <= '9') {
            js->p++;
        }
    }

    if (js->p < js->end && (*js->p | 0x20) == 'e') {
        js->p++;

        if (js->p < js->end && (*js->p == '+' || *js->p == '-')) {
            js->p++;
        }

        if (js->p >= js->end || *js->p < '0' || *js->p > '9') {
            return -1;
        }

        while (js->p < js->end && *js->p >= '0' && *js->p <= '9') {
            js->p++;
        }
    }

    put1(c, 'N');
    put(c, start, js->p - start);
    put1(c, ';');

    return 0;
}


static int
parse_word(json_t *js, canon_t *c, const char *w, uint8_t tag)
{
    size_t  n;

    n = strlen(w);

    if ((size_t) (js->end - js->p) < n || memcmp(js->p, w, n) != 0) {
        return -1;
    }

    js->p += n;
    put1(c, tag);

    return 0;
}


static int
parse_value(json_t *js, canon_t *c, int depth)
{
    int  first;

    if (depth > 64) {
        return -1;
    }

    skip_ws(js);

    if (js->p >= js->end) {
        return -1;
    }

    switch (*js->p) {

    case '{':
    case '[':
        put1(c, *js->p);
        first = 1;

        if (*js->p++ == '{') {
            for ( ;; ) {
                skip_ws(js);

                if (js->p < js->end && *js->p == '}' && first) {
                    js->p++;
                    break;
                }

                if (!first) {
                    if (js->p < js->end && *js->p == '}') {
                        js->p++;
                        break;
                    }

                    if (js->p >= js->end || *js->p != ',') {
                        return -1;
                    }

                    js->p++;
                    skip_ws(js);
                }

                first = 0;

                if (parse_string(js, c) != 0) {
                    return -1;
                }

                skip_ws(js);

                if (js->p >= js->end || *js->p++ != ':') {
                    return -1;
                }

                if (parse_value(js, c, depth + 1) != 0) {
                    return -1;
                }
            }

            put1(c, '}');
            return 0;
        }

        for ( ;; ) {
            skip_ws(js);

            if (js->p < js->end && *js->p == ']') {
                js->p++;
                break;
            }

            if (!first) {
                if (js->p >= js->end || *js->p != ',') {
                    return -1;
                }

                js->p++;
            }

            first = 0;

            if (parse_value(js, c, depth + 1) != 0) {
                return -1;
            }
        }

        put1(c, ']');
        return 0;

    case '"':
        return parse_string(js, c);

    case 't':
        return parse_word(js, c, "true", 'T');

    case 'f':
        return parse_word(js, c, "false", 'F');

    case 'n':
        return parse_word(js, c, "null", 'Z');

    default:
        return parse_number(js, c);
    }
}


static int
parse_text(const uint8_t *s, size_t len, canon_t *c)
{
    json_t  js;

    js.p = s;
    js.end = s + len;

    if (parse_value(&js, c, 0) != 0) {
        return -1;
    }

    skip_ws(&js);

    return (js.p == js.end) ? 0 : -1;
}


/* the program: one value, written and expected */

static void
gen_value(in_t *in, ngx_cms_json_t *j, canon_t *c, unsigned depth)
{
    size_t          len, n, i;
    uint64_t        u;
    const uint8_t  *s;
    char            num[24];

    switch (next(in) % 8) {

    case 0:
        len = next(in) % 80;
        s = take(in, &len);
        ngx_cms_json_string(j, s, len);
        put1(c, 'S');
        expect_chars(c, s, len);
        put1(c, 'E');
        return;

    case 1:
        len = 8;
        s = take(in, &len);
        u = 0;
        for (i = 0; i < len; i++) {
            u = (u << 8) | s[i];
        }
        ngx_cms_json_uint(j, u);
        n = 0;
        do {
            num[n++] = (char) ('0' + u % 10);
            u /= 10;
        } while (u);
        put1(c, 'N');
        while (n) {
            put1(c, (uint8_t) num[--n]);
        }
        put1(c, ';');
        return;

    case 2:
        i = next(in) & 1;
        ngx_cms_json_bool(j, (int) i);
        put1(c, i ? 'T' : 'F');
        return;

    case 3:
        len = next(in) % 8;
        s = take(in, &len);
        ngx_cms_json_string_or_null(j, s, len);
        if (len == 0) {
            put1(c, 'Z');
        } else {
            put1(c, 'S');
            expect_chars(c, s, len);
            put1(c, 'E');
        }
        return;

    case 4:
    case 5:
        if (depth >= NGX_CMS_JSON_MAX_DEPTH) {
            ngx_cms_json_null(j);
            put1(c, 'Z');
            return;
        }

        n = next(in) % 5;

        if (in->p[-1] & 0x80 || (in->end - in->p) < 2) {
            /* an array */
            ngx_cms_json_open(j, '[');
            put1(c, '[');
            for (i = 0; i < n; i++) {
                gen_value(in, j, c, depth + 1);
            }
            ngx_cms_json_close(j, ']');
            put1(c, ']');
            return;
        }

        ngx_cms_json_open(j, '{');
        put1(c, '{');
        for (i = 0; i < n; i++) {
            len = next(in) % 24;
            s = take(in, &len);
            ngx_cms_json_key_n(j, s, len);
            put1(c, 'S');
            expect_chars(c, s, len);
            put1(c, 'E');
            gen_value(in, j, c, depth + 1);
        }
        ngx_cms_json_close(j, '}');
        put1(c, '}');
        return;

    case 6:
        n = next(in) % 4;
        ngx_cms_json_string_begin(j);
        put1(c, 'S');
        for (i = 0; i < n; i++) {
            len = next(in) % 32;
            s = take(in, &len);
            ngx_cms_json_string_part(j, s, len);
            expect_chars(c, s, len);
        }
        ngx_cms_json_string_end(j);
        put1(c, 'E');
        return;

    default:
        len = next(in) % 64;
        s = take(in, &len);

        if (ngx_cms_json_valid(s, len)) {
            ngx_cms_json_verbatim(j, s, len);
            check(parse_text(s, len, c) == 0);

        } else {
            ngx_cms_json_null(j);
            put1(c, 'Z');
        }

        return;
    }
}


/* as the core's pool writer grows: double, or more if asked */

static int
grow(ngx_cms_json_t *j, size_t need)
{
    size_t    len, n;
    uint8_t  *p;

    len = j->pos - j->start;
    n = (j->end - j->start) * 2;

    if (n < len + need) {
        n = len + need;
    }

    p = realloc(j->start, n);
    if (p == NULL) {
        return 0;
    }

    j->start = p;
    j->pos = p + len;
    j->end = p + n;

    return 1;
}


static size_t
run(const uint8_t *data, size_t size, uint8_t *buf, size_t bufsize,
    ngx_cms_json_t *j, canon_t *c)
{
    in_t  in;

    in.p = data;
    in.end = data + size;
    c->len = 0;

    ngx_cms_json_init(j, buf, bufsize);
    gen_value(&in, j, c, 0);

    return ngx_cms_json_length(j);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 bufsize, len, len2;
    uint8_t               *buf, *buf2;
    in_t                   in;
    canon_t                want, got, want2;
    ngx_cms_json_t         j, g;

    static uint8_t  canon[3][MAX_CANON];

    if (size < 2) {
        return 0;
    }

    /* the first two bytes: the first buffer's size, often too small */

    bufsize = ((size_t) data[0] << 8 | data[1]) % 4096;
    data += 2;
    size -= 2;

    want.buf = canon[0];
    got.buf = canon[1];
    got.len = 0;
    want2.buf = canon[2];

    buf = malloc(bufsize ? bufsize : 1);
    check(buf != NULL);

    len = run(data, size, buf, bufsize, &j, &want);

    if (!ngx_cms_json_fits(&j)) {
        free(buf);

        /* the counted length is the length a second pass writes */

        buf2 = malloc(len ? len : 1);
        check(buf2 != NULL);

        len2 = run(data, size, buf2, len, &j, &want2);
        check(ngx_cms_json_fits(&j));
        check(len2 == len);
        check(want2.len == want.len
              && memcmp(want2.buf, want.buf, want.len) == 0);
        buf = buf2;
    }

    check(j.pos == buf + len);

    /* grown from the first size: the same text */

    buf2 = malloc(bufsize ? bufsize : 1);
    check(buf2 != NULL);

    in.p = data;
    in.end = data + size;
    want2.len = 0;

    ngx_cms_json_init(&g, buf2, bufsize ? bufsize : 1);
    g.grow = grow;
    gen_value(&in, &g, &want2, 0);

    check(ngx_cms_json_fits(&g));
    check((size_t) (g.pos - g.start) == len);
    check(memcmp(g.start, buf, len) == 0);
    free(g.start);

    /* one line, valid for the module's own checker, and read back */

    check(memchr(buf, '\n', len) == NULL);
    check(memchr(buf, '\r', len) == NULL);
    check(ngx_cms_json_valid(buf, len));
    check(parse_text(buf, len, &got) == 0);
    check(got.len == want.len && memcmp(got.buf, want.buf, want.len) == 0);

    free(buf);

    return 0;
}
