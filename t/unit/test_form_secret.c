/*
 * ngx_cms_form_is_secret(): the one-pass scan against the definition it
 * replaced (the exceptions by name, then every secret word searched
 * anywhere in the name, reproduced below as ref_is_secret), on names
 * made of the word lists themselves and on random names, and the table
 * of first letters against the word list.
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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_letters),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
