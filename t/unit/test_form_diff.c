/*
 * The form code's fast paths against the plain code they replaced,
 * reproduced below as ref_*:
 *
 * - ngx_cms_form_is_secret(), a one-pass scan, against its definition
 *   (the exceptions by name, then every secret word searched anywhere in
 *   the name), on names made of the word lists themselves and on random
 *   names, and the table of first letters against the word list;
 * - ngx_cms_form_decode(), which copies plain runs eight bytes a step,
 *   against the byte loop, on random components: output, length,
 *   error code and offset;
 * - ngx_cms_form_parse(), which copies the names and values of a body
 *   without '%', '+' or NUL instead of decoding them (in one SSE2 pass
 *   where there is SSE2, by the split's copying branch elsewhere: both
 *   are checked), against the split that decodes every one, on random
 *   bodies: result, parameters (raw spans, decoded text, '='), error code
 *   and offset.
 *
 * The file includes ngx_cms_form.c, so both read the same lists.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_form.c"


static size_t  compared;


/* ---- the reference: the definition before the scan, unchanged ---- */

static int
ref_contains(const unsigned char *s, size_t len, const char *word)
{
    size_t         i, j, n;
    unsigned char  c;

    n = strlen(word);

    for (i = 0; i + n <= len; i++) {

        for (j = 0; j < n; j++) {
            c = s[i + j];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != (unsigned char) word[j]) {
                break;
            }
        }

        if (j == n) {
            return 1;
        }
    }

    return 0;
}


static int
ref_is_secret(const unsigned char *name, size_t len)
{
    const char  **w;

    for (w = ngx_cms_form_not_secret; *w; w++) {
        if (ngx_cms_form_name_eq(name, len, (const unsigned char *) *w,
                                 strlen(*w)))
        {
            return 0;
        }
    }

    for (w = ngx_cms_form_secret_words; *w; w++) {
        if (ref_contains(name, len, *w)) {
            return 1;
        }
    }

    return 0;
}


/* ---- the comparison ---- */


static void
compare(const char *name, size_t len)
{
    int  got, ref;

    got = ngx_cms_form_is_secret((const unsigned char *) name, len);
    ref = ref_is_secret((const unsigned char *) name, len);

    compared++;

    if (got != ref) {
        fail_msg("\"%.*s\": %d, the definition says %d", (int) len, name,
                 got, ref);
    }
}


static void
test_first_letters(void **state)
{
    int           c;
    const char  **w;
    unsigned char first[256];

    (void) state;

    memset(first, 0, sizeof(first));

    for (w = ngx_cms_form_secret_words; *w; w++) {
        c = (unsigned char) (*w)[0];
        first[c] = 1;
        first[c & ~0x20] = 1;
    }

    for (c = 0; c < 256; c++) {
        if (first[c] != ngx_cms_form_secret_first[c]) {
            fail_msg("the first-letter table says %d for '%c', the words %d",
                     ngx_cms_form_secret_first[c], c, first[c]);
        }
    }
}


/* every list entry, in three spellings, cut, and with something around */

static void
test_lists(void **state)
{
    size_t        i, n;
    char          buf[128];
    const char  **w;
    const char   *lists[2][16];
    const char  **l;
    int           k, how;

    static const char  *around[] = { "", "x", "guest", "Key", "_", "9" };

    (void) state;

    memset(lists, 0, sizeof(lists));

    for (i = 0, w = ngx_cms_form_secret_words; *w; w++) {
        lists[0][i++] = *w;
    }

    for (i = 0, w = ngx_cms_form_not_secret; *w; w++) {
        lists[1][i++] = *w;
    }

    for (k = 0; k < 2; k++) {
        for (l = lists[k]; *l; l++) {
            for (how = 0; how < 3; how++) {
                for (i = 0; i < sizeof(around) / sizeof(around[0]); i++) {

                    snprintf(buf, sizeof(buf), "%s%s%s", around[i], *l,
                             around[(i + how) % 6]);

                    for (n = 0; buf[n]; n++) {
                        if (how == 1 && buf[n] >= 'a' && buf[n] <= 'z') {
                            buf[n] &= ~0x20;

                        } else if (how == 2 && buf[n] >= 'A'
                                   && buf[n] <= 'Z')
                        {
                            buf[n] |= 0x20;
                        }
                    }

                    n = strlen(buf);

                    compare(buf, n);

                    while (n--) {
                        compare(buf, n);
                        compare(buf + 1, n ? n - 1 : 0);
                    }
                }
            }
        }
    }

    compare("", 0);
}


static void
test_random(void **state)
{
    static const char  alpha[] = "pascodewrtkyPASCODEWRTKYnmx_\0\xc3";
    char               buf[32];
    size_t             len, i;
    uint32_t           seed;
    int                round;

    (void) state;

    seed = 4242;

    for (round = 0; round < 300000; round++) {
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 8) % 20;

        for (i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alpha[(seed >> 8) % (sizeof(alpha) - 1)];
        }

        compare(buf, len);
    }

    print_message("%zu names compared\n", compared);
}


/* ---- percent-decoding: the byte loop before the runs, unchanged ---- */

static int
ref_decode(const unsigned char *body, size_t from, size_t to,
    unsigned char *dst, size_t *dlen, ngx_cms_form_error_t *err)
{
    int            hi, lo;
    size_t         i, n;
    unsigned char  c;

    n = 0;

    for (i = from; i < to; i++) {
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
            ngx_cms_form_error(err, NGX_CMS_FORM_E_NUL, i, "NUL byte");
            return NGX_CMS_FORM_E_NUL;
        }

        dst[n++] = c;
    }

    *dlen = n;

    return NGX_CMS_FORM_OK;
}


static void
test_decode(void **state)
{
    static const char  alpha[] = "abcXYZ09-_.~ +%%2041fFgG\0\xc3\xa9";

    int                   rc, ref_rc;
    size_t                len, from, i, dlen, ref_dlen;
    uint32_t              seed;
    unsigned char         in[64], out[64], want[64];
    ngx_cms_form_error_t  err, ref_err;
    int                   round;

    (void) state;

    seed = 99;

    for (round = 0; round < 300000; round++) {
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 8) % 40;
        from = (seed >> 16) % 8;

        for (i = 0; i < from + len; i++) {
            seed = seed * 1103515245u + 12345u;

            /* mostly letters: the runs the fast path is for */
            in[i] = ((seed >> 8) % 3)
                    ? (unsigned char) ('a' + (seed >> 12) % 26)
                    : (unsigned char) alpha[(seed >> 12)
                                            % (sizeof(alpha) - 1)];
        }

        memset(&err, 0, sizeof(err));
        memset(&ref_err, 0, sizeof(ref_err));
        dlen = ref_dlen = 0;

        rc = ngx_cms_form_decode(in, from, from + len, out, &dlen, &err);
        ref_rc = ref_decode(in, from, from + len, want, &ref_dlen, &ref_err);

        if (rc != ref_rc
            || (rc == NGX_CMS_FORM_OK
                && (dlen != ref_dlen || memcmp(out, want, dlen) != 0))
            || (rc != NGX_CMS_FORM_OK
                && (err.code != ref_err.code
                    || err.offset != ref_err.offset)))
        {
            fail_msg("round %d: \"%.*s\" decoded differently (rc %d/%d)",
                     round, (int) len, in + from, rc, ref_rc);
        }
    }
}


/* the results of a parse against the reference's, or the test fails */

static void
same_parse(int round, const unsigned char *in, size_t len, int rc, size_t n,
    const ngx_cms_form_param_t *p, const ngx_cms_form_error_t *err,
    int ref_rc, size_t ref_n, const ngx_cms_form_param_t *ref_p,
    const ngx_cms_form_error_t *ref_err)
{
    size_t  i;

    if (rc != ref_rc || n != ref_n
        || (rc != NGX_CMS_FORM_OK
            && (err->code != ref_err->code
                || err->offset != ref_err->offset)))
    {
        fail_msg("round %d: \"%.*s\" parsed differently (rc %d/%d)",
                 round, (int) len, in, rc, ref_rc);
    }

    for (i = 0; i < n; i++) {
        if (p[i].has_eq != ref_p[i].has_eq
            || p[i].name_len != ref_p[i].name_len
            || p[i].value_len != ref_p[i].value_len
            || memcmp(p[i].name, ref_p[i].name, p[i].name_len) != 0
            || memcmp(p[i].value, ref_p[i].value, p[i].value_len) != 0)
        {
            fail_msg("round %d: \"%.*s\": parameter %zu differs",
                     round, (int) len, in, i);
        }
    }
}


static void
test_parse(void **state)
{
    static const char  alpha[] = "ab=&& Z9-.~+%%41\0\xc3";

    int                    rc, ref_rc, round;
    size_t                 len, i, n, ref_n, plain;
    uint32_t               seed;
    unsigned char          in[80], scratch[81], ref_scratch[81];
    ngx_cms_form_param_t   p[8], ref_p[8];
    ngx_cms_form_error_t   err, ref_err;

    (void) state;

    seed = 7;
    plain = 0;

    for (round = 0; round < 300000; round++) {
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 8) % 80;

        for (i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;

            /* half the bodies have nothing to decode */
            in[i] = (round & 1)
                    ? (unsigned char) alpha[(seed >> 12) % (sizeof(alpha) - 1)]
                    : (unsigned char) "ab=&& Z9-.~c"[(seed >> 12) % 12];
        }

        memset(&err, 0, sizeof(err));
        memset(&ref_err, 0, sizeof(ref_err));
        n = ref_n = 0;

        rc = ngx_cms_form_parse(in, len, scratch, len + 1, p, 8, &n, &err);
        ref_rc = ngx_cms_form_split(in, len, ref_scratch, len + 1, ref_p, 8,
                                    &ref_n, &ref_err, 0);

        same_parse(round, in, len, rc, n, p, &err, ref_rc, ref_n, ref_p,
                   &ref_err);

        /*
         * A body with nothing to decode also through the split's plain
         * branch: the path of a build without SSE2, which the parse above
         * no longer takes on this machine.
         */

        if (!(round & 1)) {
            memset(&err, 0, sizeof(err));
            n = 0;
            rc = ngx_cms_form_split(in, len, scratch, len + 1, p, 8, &n,
                                    &err, 1);
            same_parse(round, in, len, rc, n, p, &err, ref_rc, ref_n, ref_p,
                       &ref_err);
        }

        if (rc == NGX_CMS_FORM_OK && n && !(round & 1)) {
            plain++;
        }
    }

    /* the fast path was taken, and often */
    print_message("%zu plain bodies parsed\n", plain);
    assert_true(plain > 20000);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_letters),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
