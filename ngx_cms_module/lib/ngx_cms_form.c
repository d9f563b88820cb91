/*
 * ngx_cms: application/x-www-form-urlencoded request bodies.
 *
 * CMS takes every POST and PUT parameter in this format.  The parser is
 * as lenient as the clients that talk to CMS need (TMS sends a leading
 * '&' and unencoded spaces) and strict wherever leniency would let the
 * proxy read a body differently from the bridge (bad escapes, NUL bytes).
 */


#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_cms_form.h"


/* ngx_cms_form_split_sse2(): the body has bytes to decode */
#define NGX_CMS_FORM_DECODE  1


static int ngx_cms_form_split(const unsigned char *body, size_t len,
    unsigned char *scratch, size_t scratch_size,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err, int plain);
#if defined(__SSE2__)
static int ngx_cms_form_split_sse2(const unsigned char *body, size_t len,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err);
static inline uint32_t ngx_cms_form_mask(__m128i lo, __m128i hi, char c);
static inline __m128i ngx_cms_form_to_decode(__m128i lo, __m128i hi);
static inline int ngx_cms_form_end(const unsigned char *body, size_t pos,
    size_t eq, size_t end, ngx_cms_form_param_t *params, size_t max_params,
    size_t *nparams, ngx_cms_form_error_t *err);
#endif
static int ngx_cms_form_decode(const unsigned char *body, size_t from,
    size_t to, unsigned char *dst, size_t *dlen, ngx_cms_form_error_t *err);
static int ngx_cms_form_hex(unsigned char c);
static void ngx_cms_form_error(ngx_cms_form_error_t *err, int code,
    size_t offset, const char *message);


static inline unsigned char
ngx_cms_form_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (c | 0x20) : c;
}


/* a component without '=': a name alone, its value empty at its end */

static inline void
ngx_cms_form_no_value(ngx_cms_form_param_t *prm)
{
    prm->has_eq = 0;
    prm->value = prm->name + prm->name_len;
    prm->value_len = 0;
}


/*
 * The component from pos to end, its first '=' at eq (none: at end or
 * beyond), with its name and value the body's own bytes
 */

static inline void
ngx_cms_form_own(ngx_cms_form_param_t *prm, const unsigned char *body,
    size_t pos, size_t eq, size_t end)
{
    /* the caller's body, read only: the type is the decoded ones' */
    prm->name = (unsigned char *) body + pos;

    if (eq < end) {
        prm->name_len = eq - pos;
        prm->has_eq = 1;
        prm->value = (unsigned char *) body + eq + 1;
        prm->value_len = end - eq - 1;

    } else {
        prm->name_len = end - pos;
        ngx_cms_form_no_value(prm);
    }
}


/*
 * Names that contain a secret-looking word but carry a flag, a mode or a
 * number (APIARY): masking them would only hide useful audit detail,
 * such as TMS ending a meeting with regenerateSecret=true.
 */

static const char  *ngx_cms_form_not_secret[] = {
    "regenerateSecret",
    "passcodeMode",
    "passcodeTimeout",
    "allowPasscodes",
    "allowSecrets",
    "canChangePasscode",
    NULL
};

static const char  *ngx_cms_form_secret_words[] = {
    "passcode",
    "password",
    "secret",
    "token",
    "key",
    NULL
};

/*
 * The letters the words above start with, in both cases: the name is
 * scanned once, and only at these letters are the words compared
 * (t/unit/test_form_diff.c checks the table against the words).
 */

static const unsigned char  ngx_cms_form_secret_first[256] = {
    ['K'] = 1, ['P'] = 1, ['S'] = 1, ['T'] = 1,
    ['k'] = 1, ['p'] = 1, ['s'] = 1, ['t'] = 1
};


/*
 * Components are split on '&' only (';' is data to CMS); empty ones are
 * skipped.  In each, the first '=' ends the name; a component without
 * one is a name alone (has_eq 0) whose value is the empty string at the
 * end of its name.  '+' is a space, "%XX" a byte; other bytes, spaces
 * included, are kept as they are.  Parameters keep their order, and
 * duplicates are kept.
 *
 * On error, *nparams says how many parameters came before the error;
 * they are not the meaning of the body and must not be used as such.
 */

int
ngx_cms_form_parse(const unsigned char *body, size_t len,
    unsigned char *scratch, size_t scratch_size,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err)
{
    int  plain;

#if defined(__SSE2__)
    int  rc;

    rc = ngx_cms_form_split_sse2(body, len, params, max_params, nparams, err);

    if (rc != NGX_CMS_FORM_DECODE) {
        return rc;
    }

    plain = 0;

#else

    /*
     * A body without '%', '+' or NUL (TMS sends its spaces raw) decodes
     * to itself: its names and values are its own bytes.  Three memchr()
     * calls over the body decide it.
     */

    plain = (len == 0
             || (memchr(body, '%', len) == NULL
                 && memchr(body, '+', len) == NULL
                 && memchr(body, '\0', len) == NULL));
#endif

    return ngx_cms_form_split(body, len, scratch, scratch_size, params,
                              max_params, nparams, err, plain);
}


#if defined(__SSE2__)

/*
 * The common body, one without '%', '+' or NUL (TMS sends its spaces
 * raw), in one pass: its names and values are its own bytes, so only the
 * separators are looked for.  Thirty-two bytes at a time give the
 * positions of the '&'s and the '='s, and tell whether any byte needs
 * decoding: then NGX_CMS_FORM_DECODE, and the caller leaves the body to
 * the decoding split.  That is asked once, at the end or at an error,
 * of the bytes read so far: the separators of a body to decode are
 * visited for nothing, but those of the common one are not delayed by a
 * test a block.  Only the '&'s are visited: a component's first
 * '=' is the lowest of the '=' bits left between its start and its
 * '&' (those before its start are cleared as the '&'s are passed), so
 * the '='s in values cost nothing.  Results, errors and their offsets are
 * the split's (t/unit/test_form_diff.c).
 */

static int
ngx_cms_form_split_sse2(const unsigned char *body, size_t len,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err)
{
    int                   rc;
    size_t                base, pos, eq, i, shift, count;
    uint32_t              amp, eqs, below;
    __m128i               lo, hi, special;
    const unsigned char  *p;
    unsigned char         pad[32];

    /* counted here, where a store into params cannot change it */
    count = 0;
    special = _mm_setzero_si128();

    if (len < 32) {
        /* a short body, read padded with a byte that is nothing here */
        memset(pad, 'x', 32);

        if (len) {
            /* (an empty body may come without memory: no memcpy(NULL)) */
            memcpy(pad, body, len);
        }

        p = pad;

    } else {
        p = body;
    }

    pos = 0;
    eq = (size_t) -1;

    for (base = 0; base < len; base += 32) {

        if (len - base >= 32 || len < 32) {
            /* a whole block of the body, or the padded short body */
            lo = _mm_loadu_si128((const __m128i *) (p + base));
            hi = _mm_loadu_si128((const __m128i *) (p + base + 16));
            shift = 0;

        } else {
            /* the last thirty-two bytes, and only the new ones counted */
            lo = _mm_loadu_si128((const __m128i *) (body + len - 32));
            hi = _mm_loadu_si128((const __m128i *) (body + len - 16));
            shift = 32 - (len - base);
        }

        /* (the bytes of the last block shifted out were read before) */
        special = _mm_or_si128(special, ngx_cms_form_to_decode(lo, hi));

        amp = ngx_cms_form_mask(lo, hi, '&') >> shift;
        eqs = ngx_cms_form_mask(lo, hi, '=') >> shift;

        while (amp) {
            i = __builtin_ctz(amp);
            below = ((uint32_t) 1 << i) - 1;

            if (eq == (size_t) -1 && (eqs & below)) {
                eq = base + __builtin_ctz(eqs & below);
            }

            rc = ngx_cms_form_end(body, pos, eq, base + i, params,
                                  max_params, &count, err);
            if (rc != NGX_CMS_FORM_OK) {
                /* unless decoding would have found an error before */
                goto check;
            }

            pos = base + i + 1;
            eq = (size_t) -1;

            /* the '='s up to this '&' are behind the next component */
            eqs &= ~below << 1;
            amp &= amp - 1;
        }

        if (eq == (size_t) -1 && eqs) {
            eq = base + __builtin_ctz(eqs);
        }
    }

    rc = ngx_cms_form_end(body, pos, eq, len, params, max_params, &count,
                          err);

check:

    if (_mm_movemask_epi8(special)) {
        rc = NGX_CMS_FORM_DECODE;

    } else if (rc == NGX_CMS_FORM_OK) {
        ngx_cms_form_error(err, NGX_CMS_FORM_OK, 0, "ok");
    }

    *nparams = count;

    return rc;
}


/* the bytes equal to c among the thirty-two of lo and hi, as bits */

static inline uint32_t
ngx_cms_form_mask(__m128i lo, __m128i hi, char c)
{
    __m128i  v;

    v = _mm_set1_epi8(c);

    return (uint32_t) _mm_movemask_epi8(_mm_cmpeq_epi8(lo, v))
           | ((uint32_t) _mm_movemask_epi8(_mm_cmpeq_epi8(hi, v)) << 16);
}


/* the bytes among the thirty-two that need decoding: '%', '+', NUL */

static inline __m128i
ngx_cms_form_to_decode(__m128i lo, __m128i hi)
{
    __m128i  pc, pl, nul;

    pc = _mm_set1_epi8('%');
    pl = _mm_set1_epi8('+');
    nul = _mm_setzero_si128();

    return _mm_or_si128(
               _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(lo, pc),
                                         _mm_cmpeq_epi8(lo, pl)),
                            _mm_cmpeq_epi8(lo, nul)),
               _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(hi, pc),
                                         _mm_cmpeq_epi8(hi, pl)),
                            _mm_cmpeq_epi8(hi, nul)));
}


/*
 * The component from pos to end, its first '=' at eq ((size_t) -1:
 * none), its name and value the body's own bytes
 */

static inline int
ngx_cms_form_end(const unsigned char *body, size_t pos, size_t eq,
    size_t end, ngx_cms_form_param_t *params, size_t max_params,
    size_t *nparams, ngx_cms_form_error_t *err)
{
    if (end == pos) {
        return NGX_CMS_FORM_OK;
    }

    if (eq == pos) {
        ngx_cms_form_error(err, NGX_CMS_FORM_E_EMPTY_NAME, pos,
                           "empty parameter name");
        return NGX_CMS_FORM_E_EMPTY_NAME;
    }

    if (*nparams == max_params) {
        ngx_cms_form_error(err, NGX_CMS_FORM_E_TOO_MANY, pos,
                           "too many parameters");
        return NGX_CMS_FORM_E_TOO_MANY;
    }

    ngx_cms_form_own(&params[(*nparams)++], body, pos, eq, end);

    return NGX_CMS_FORM_OK;
}

#endif


/*
 * plain: the body has nothing to decode, and its names and values are
 * its own bytes; else they are decoded into scratch
 * (t/unit/test_form_diff.c)
 */

static int
ngx_cms_form_split(const unsigned char *body, size_t len,
    unsigned char *scratch, size_t scratch_size,
    ngx_cms_form_param_t *params, size_t max_params, size_t *nparams,
    ngx_cms_form_error_t *err, int plain)
{
    int                    rc;
    size_t                 n, pos, end, eq, dlen, avail;
    unsigned char         *s;
    const unsigned char   *p;
    ngx_cms_form_param_t  *prm;

    n = 0;
    s = scratch;
    avail = scratch_size;

    *nparams = 0;

    for (pos = 0; pos < len; pos = end + 1) {

        p = memchr(body + pos, '&', len - pos);
        end = p ? (size_t) (p - body) : len;

        if (end == pos) {
            continue;
        }

        p = memchr(body + pos, '=', end - pos);
        eq = p ? (size_t) (p - body) : end;

        if (eq == pos) {
            ngx_cms_form_error(err, NGX_CMS_FORM_E_EMPTY_NAME, pos,
                               "empty parameter name");
            return NGX_CMS_FORM_E_EMPTY_NAME;
        }

        if (n == max_params) {
            ngx_cms_form_error(err, NGX_CMS_FORM_E_TOO_MANY, pos,
                               "too many parameters");
            return NGX_CMS_FORM_E_TOO_MANY;
        }

        prm = &params[n];

        if (plain) {
            ngx_cms_form_own(prm, body, pos, eq, end);
            *nparams = ++n;
            continue;
        }

        /* decoding never grows: the raw bytes bound the decoded ones */

        if (end - pos > avail) {
            ngx_cms_form_error(err, NGX_CMS_FORM_E_SCRATCH, pos,
                               "scratch buffer too small");
            return NGX_CMS_FORM_E_SCRATCH;
        }

        rc = ngx_cms_form_decode(body, pos, eq, s, &dlen, err);
        if (rc != NGX_CMS_FORM_OK) {
            return rc;
        }

        prm->name = s;
        prm->name_len = dlen;
        s += dlen;
        avail -= dlen;

        if (eq < end) {
            rc = ngx_cms_form_decode(body, eq + 1, end, s, &dlen, err);
            if (rc != NGX_CMS_FORM_OK) {
                return rc;
            }

            prm->has_eq = 1;
            prm->value = s;
            prm->value_len = dlen;
            s += dlen;
            avail -= dlen;

        } else {
            ngx_cms_form_no_value(prm);
        }

        *nparams = ++n;
    }

    ngx_cms_form_error(err, NGX_CMS_FORM_OK, 0, "ok");

    return NGX_CMS_FORM_OK;
}


/*
 * The bytes decoding changes or refuses ('+', '%', NUL): the runs of all
 * the others are copied as they are, eight bytes a step while they last.
 */

static const unsigned char  ngx_cms_form_special[256] = {
    ['\0'] = 1, ['%'] = 1, ['+'] = 1
};

#define NGX_CMS_FORM_ONES  0x0101010101010101ULL
#define NGX_CMS_FORM_HIGH  0x8080808080808080ULL

/* some byte of w is zero (exact: the usual word-at-a-time test) */
#define ngx_cms_form_zero8(w)                                                 \
    ((((w) - NGX_CMS_FORM_ONES) & ~(w) & NGX_CMS_FORM_HIGH) != 0)


static int
ngx_cms_form_decode(const unsigned char *body, size_t from, size_t to,
    unsigned char *dst, size_t *dlen, ngx_cms_form_error_t *err)
{
    int            hi, lo;
    size_t         i, n;
    uint64_t       w;
    unsigned char  c;

    n = 0;

    for (i = from; i < to; i++) {

        while (to - i >= 8) {
            memcpy(&w, body + i, 8);

            if (ngx_cms_form_zero8(w)
                || ngx_cms_form_zero8(w ^ (NGX_CMS_FORM_ONES * '%'))
                || ngx_cms_form_zero8(w ^ (NGX_CMS_FORM_ONES * '+')))
            {
                break;
            }

            memcpy(dst + n, &w, 8);
            n += 8;
            i += 8;
        }

        while (i < to && !ngx_cms_form_special[body[i]]) {
            dst[n++] = body[i++];
        }

        if (i == to) {
            break;
        }

        c = body[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%') {
            hi = (i + 2 < to) ? ngx_cms_form_hex(body[i + 1]) : -1;
            lo = (hi >= 0) ? ngx_cms_form_hex(body[i + 2]) : -1;

            if (lo < 0) {
                ngx_cms_form_error(err, NGX_CMS_FORM_E_ESCAPE, i,
                                   "bad percent-escape");
                return NGX_CMS_FORM_E_ESCAPE;
            }

            c = (unsigned char) (hi << 4 | lo);

            if (c == '\0') {
                ngx_cms_form_error(err, NGX_CMS_FORM_E_NUL, i,
                                   "NUL byte");
                return NGX_CMS_FORM_E_NUL;
            }

            i += 2;

        } else if (c == '\0') {
            /* C code reading the name or the value would cut it short */
            ngx_cms_form_error(err, NGX_CMS_FORM_E_NUL, i, "NUL byte");
            return NGX_CMS_FORM_E_NUL;
        }

        dst[n++] = c;
    }

    *dlen = n;

    return NGX_CMS_FORM_OK;
}


static int
ngx_cms_form_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static void
ngx_cms_form_error(ngx_cms_form_error_t *err, int code, size_t offset,
    const char *message)
{
    if (err) {
        err->code = code;
        err->offset = offset;
        err->message = message;
    }
}


/*
 * The components again, as the parse splits them, but with nothing
 * decoded and nothing checked: the i-th one that is not empty.
 */

void
ngx_cms_form_raw(const unsigned char *body, size_t len, size_t i,
    ngx_cms_span_t *name, ngx_cms_span_t *value)
{
    size_t               pos, end, eq;
    const unsigned char  *p;

    for (pos = 0; pos < len; pos = end + 1) {
        p = memchr(body + pos, '&', len - pos);
        end = p ? (size_t) (p - body) : len;

        if (end > pos && i-- == 0) {
            p = memchr(body + pos, '=', end - pos);
            eq = p ? (size_t) (p - body) : end;

            name->data = body + pos;
            name->len = eq - pos;
            value->data = body + (eq < end ? eq + 1 : end);
            value->len = eq < end ? end - eq - 1 : 0;
            return;
        }
    }

    name->data = body + len;
    name->len = 0;
    *value = *name;
}


/*
 * The first parameter with this decoded name, compared without case:
 * CMS reads parameter names that way (cms-api-notes 1.7, 1.9), so the
 * proxy must too, or a name spelled in another case would be judged as
 * absent while the bridge acts on it.
 */

ngx_cms_form_param_t *
ngx_cms_form_get(ngx_cms_form_param_t *params, size_t n, const char *name)
{
    return ngx_cms_form_get_n(params, n, (const unsigned char *) name,
                              strlen(name));
}


ngx_cms_form_param_t *
ngx_cms_form_get_n(ngx_cms_form_param_t *params, size_t n,
    const unsigned char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_cms_form_name_eq(params[i].name, params[i].name_len,
                                 name, len))
        {
            return &params[i];
        }
    }

    return NULL;
}


/*
 * A name given more than once, in any spelling: which one the bridge
 * acts on is not documented, so no decision may rest on either.  The
 * first one (in order) that repeats an earlier one is returned
 * (ngx_cms_form_repeated() in ngx_cms_form.h looks for a repeated length
 * first): from params[i] on, each name compared with every earlier one.
 */

ngx_cms_form_param_t *
ngx_cms_form_repeated_from(ngx_cms_form_param_t *params, size_t n, size_t i)
{
    size_t  k;

    for ( /* void */ ; i < n; i++) {
        for (k = 0; k < i; k++) {
            if (params[i].name_len == params[k].name_len
                && ngx_cms_form_name_eq(params[i].name, params[i].name_len,
                                        params[k].name, params[k].name_len))
            {
                return &params[i];
            }
        }
    }

    return NULL;
}


int
ngx_cms_form_name_eq(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        if (ngx_cms_form_lower(a[i]) != ngx_cms_form_lower(b[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * Serialization for rewritten bodies: the decoded names and values are
 * encoded afresh (not copied from the raw body), so whatever a hook put
 * in them comes out well-formed.  A parameter gets its '=' when it had
 * one or now has a value.  Names must not be empty.
 */

size_t
ngx_cms_form_encoded_len(const ngx_cms_form_param_t *params, size_t n)
{
    size_t  i, len;

    len = 0;

    for (i = 0; i < n; i++) {

        if (i) {
            len++;
        }

        len += ngx_cms_form_escape(NULL, params[i].name, params[i].name_len);

        if (params[i].has_eq || params[i].value_len) {
            len += 1 + ngx_cms_form_escape(NULL, params[i].value,
                                           params[i].value_len);
        }
    }

    return len;
}


/* writes ngx_cms_form_encoded_len() bytes, returns the end; no NUL */

unsigned char *
ngx_cms_form_encode(const ngx_cms_form_param_t *params, size_t n,
    unsigned char *dst)
{
    size_t  i;

    for (i = 0; i < n; i++) {

        if (i) {
            *dst++ = '&';
        }

        dst += ngx_cms_form_escape(dst, params[i].name, params[i].name_len);

        if (params[i].has_eq || params[i].value_len) {
            *dst++ = '=';
            dst += ngx_cms_form_escape(dst, params[i].value,
                                       params[i].value_len);
        }
    }

    return dst;
}


/*
 * RFC 3986 unreserved bytes are kept, a space becomes '+', everything
 * else "%XX" in upper case.  With dst NULL only the length is counted.
 */

size_t
ngx_cms_form_escape(unsigned char *dst, const unsigned char *src, size_t len)
{
    size_t          i, n;
    unsigned char   c;

    static const char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (i = 0; i < len; i++) {
        c = src[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            if (dst) {
                dst[n] = c;
            }

            n++;

        } else if (c == ' ') {
            if (dst) {
                dst[n] = '+';
            }

            n++;

        } else {
            if (dst) {
                dst[n] = '%';
                dst[n + 1] = hex[c >> 4];
                dst[n + 2] = hex[c & 0x0f];
            }

            n += 3;
        }
    }

    return n;
}


/*
 * Whether the audit must mask the value of a parameter with this decoded
 * name.  A substring match over the words, case-insensitive, so that new
 * names ("guestPasscode", "authenticationPassword") are masked without a
 * code change: a false positive only hides a value.
 */

int
ngx_cms_form_is_secret(const unsigned char *name, size_t len)
{
    size_t        i, n;
    const char  **w;

    /* one pass over the name; the exceptions only matter after a hit */

    for (i = 0; i < len; i++) {

        if (!ngx_cms_form_secret_first[name[i]]) {
            continue;
        }

        for (w = ngx_cms_form_secret_words; *w; w++) {

            /* the first letter before anything costs more */

            if (ngx_cms_form_lower(name[i]) != (unsigned char) (*w)[0]) {
                continue;
            }

            n = strlen(*w);

            if (n <= len - i
                && ngx_cms_form_name_eq(name + i + 1, n - 1,
                                        (const unsigned char *) *w + 1,
                                        n - 1))
            {
                goto found;
            }
        }
    }

    return 0;

found:

    for (w = ngx_cms_form_not_secret; *w; w++) {
        if (ngx_cms_form_lower(name[0])
            == ngx_cms_form_lower((unsigned char) (*w)[0])
            && ngx_cms_form_name_eq(name, len, (const unsigned char *) *w,
                                    strlen(*w)))
        {
            return 0;
        }
    }

    return 1;
}


