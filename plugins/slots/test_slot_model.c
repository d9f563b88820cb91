/*
 * Unit tests for ngx_cms_slot_model.c: pool names and the slot life
 * cycle of seed 000.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_slot_model.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1

#define TMS_MAPPING  "TMS_Scheduled_Meeting_$index$"
#define MEETING      "Tim Kratzke Acano TMSXE Test Meeting"
#define SECRET       "86db1bdd-5cf7-4ea8-b88d-479195f4701a"


static ngx_cms_slot_pool_t  tms;


static int
setup_tms(void **state)
{
    (void) state;
    return ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 5, &tms);
}


static void
test_parse_tms(void **state)
{
    (void) state;

    assert_int_equal(tms.prefix_len, strlen("TMS_Scheduled_Meeting_"));
    assert_memory_equal(tms.prefix, "TMS_Scheduled_Meeting_", tms.prefix_len);
    assert_int_equal(tms.suffix_len, 0);
    assert_int_equal(tms.start, 1);
    assert_int_equal(tms.end, 5);
}


static void
test_parse_affixes_and_escapes(void **state)
{
    ngx_cms_slot_pool_t  p;

    (void) state;

    assert_int_equal(ngx_cms_slot_pool_parse(S("Room $index$ (TMS)"), 0, 9,
                                             &p), 0);
    assert_int_equal(p.prefix_len, 5);
    assert_memory_equal(p.prefix, "Room ", 5);
    assert_int_equal(p.suffix_len, 6);
    assert_memory_equal(p.suffix, " (TMS)", 6);

    /* "\$index\$" is the literal text, not the index */
    assert_int_equal(ngx_cms_slot_pool_parse(S("a\\$index\\$b$index$"), 1, 2,
                                             &p), 0);
    assert_int_equal(p.prefix_len, 9);
    assert_memory_equal(p.prefix, "a$index$b", 9);
    assert_int_equal(p.suffix_len, 0);

    /* "\\" is one backslash, a lone '$' or '\' is itself */
    assert_int_equal(ngx_cms_slot_pool_parse(S("x\\\\$index$\\y$"), 1, 2,
                                             &p), 0);
    assert_int_equal(p.prefix_len, 2);
    assert_memory_equal(p.prefix, "x\\", 2);
    assert_int_equal(p.suffix_len, 3);
    assert_memory_equal(p.suffix, "\\y$", 3);

    /* the index alone */
    assert_int_equal(ngx_cms_slot_pool_parse(S("$index$"), 1, 3, &p), 0);
    assert_int_equal(ngx_cms_slot_index(&p, S("2")), 2);
}


static void
test_parse_refusals(void **state)
{
    ngx_cms_slot_pool_t  p;
    unsigned char        big[300];

    (void) state;

    /* the trace's rendering without $index$: one name for all */
    assert_int_equal(ngx_cms_slot_pool_parse(S("TMS_Scheduled_Meeting_"), 1,
                                             5, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S(""), 1, 5, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S("$index$_$index$"), 1, 5, &p),
                     -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S("\\$index$"), 1, 5, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S("$index"), 1, 5, &p), -1);

    /* ranges */
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 5, 1, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), -1, 1, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 1000, &p),
                     0);
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 1001, &p),
                     -1);
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 7, 7, &p), 0);

    /* affixes that do not fit */
    memset(big, 'a', sizeof(big));
    memcpy(big + 128, "$index$", 7);
    assert_int_equal(ngx_cms_slot_pool_parse(big, 135, 1, 2, &p), 0);
    assert_int_equal(ngx_cms_slot_pool_parse(big + 1, 135, 1, 2, &p), 0);
    assert_int_equal(ngx_cms_slot_pool_parse(big, 136, 1, 2, &p), 0);
    memcpy(big + 129, "$index$", 7);
    assert_int_equal(ngx_cms_slot_pool_parse(big, 136, 1, 2, &p), -1);
    assert_int_equal(ngx_cms_slot_pool_parse(big, 300, 1, 2, &p), -1);
}


static void
test_index(void **state)
{
    (void) state;

    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_1")),
                     1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_5")),
                     5);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_6")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_0")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_01")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("TMS_Scheduled_Meeting_1x")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("tms_scheduled_meeting_1")),
                     -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S(MEETING)), -1);
    assert_int_equal(ngx_cms_slot_index(&tms, S("")), -1);
    assert_int_equal(ngx_cms_slot_index(&tms,
                         S("TMS_Scheduled_Meeting_99999999999999999")), -1);
}


static void
test_name(void **state)
{
    size_t               n;
    unsigned char        buf[64];
    ngx_cms_slot_pool_t  p;

    (void) state;

    n = ngx_cms_slot_name(&tms, 3, buf, sizeof(buf));
    assert_int_equal(n, strlen("TMS_Scheduled_Meeting_3"));
    assert_memory_equal(buf, "TMS_Scheduled_Meeting_3", n);

    assert_int_equal(ngx_cms_slot_name(&tms, 3, buf, n - 1), 0);
    assert_int_equal(ngx_cms_slot_name(&tms, -1, buf, sizeof(buf)), 0);

    assert_int_equal(ngx_cms_slot_pool_parse(S("Room $index$ (TMS)"), 0, 999,
                                             &p), 0);
    n = ngx_cms_slot_name(&p, 120, buf, sizeof(buf));
    assert_memory_equal(buf, "Room 120 (TMS)", n);
    assert_int_equal(ngx_cms_slot_index(&p, buf, n), 120);
    n = ngx_cms_slot_name(&p, 0, buf, sizeof(buf));
    assert_int_equal(ngx_cms_slot_index(&p, buf, n), 0);
}


static void
test_pool_same(void **state)
{
    ngx_cms_slot_pool_t  a, b;

    (void) state;

    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 5, &a), 0);
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 5, &b), 0);
    assert_true(ngx_cms_slot_pool_same(&a, &b));
    assert_int_equal(ngx_cms_slot_pool_parse(S(TMS_MAPPING), 1, 6, &b), 0);
    assert_false(ngx_cms_slot_pool_same(&a, &b));
    assert_int_equal(ngx_cms_slot_pool_parse(S("TMS_$index$"), 1, 5, &b), 0);
    assert_false(ngx_cms_slot_pool_same(&a, &b));
}


static void
test_keys(void **state)
{
    uint64_t  a, b, c, d;

    (void) state;

    a = ngx_cms_slot_meeting_key(S(MEETING), S(SECRET));
    b = ngx_cms_slot_meeting_key(S(MEETING), S(SECRET));
    c = ngx_cms_slot_meeting_key(S(MEETING), S("other-secret"));
    d = ngx_cms_slot_meeting_key(S(MEETING), NULL, 0);

    assert_true(a == b);
    assert_true(a != c);
    assert_true(a != d);
    assert_true(a != 0 && c != 0 && d != 0);

    /* name and secret do not run into each other */
    assert_true(ngx_cms_slot_meeting_key(S("ab"), S("c"))
                != ngx_cms_slot_meeting_key(S("a"), S("bc")));

    assert_true(ngx_cms_slot_name_key(S(MEETING))
                == ngx_cms_slot_name_key(S(MEETING)));
    assert_true(ngx_cms_slot_name_key(S(MEETING))
                != ngx_cms_slot_name_key(S("Other")));
}


static ngx_cms_slot_put_t
put_of(const char *name, const char *nma, const char *secret)
{
    ngx_cms_slot_put_t  p;

    memset(&p, 0, sizeof(p));

    if (name) {
        p.name = (const unsigned char *) name;
        p.name_len = strlen(name);
    }

    if (nma) {
        p.non_member_access = (const unsigned char *) nma;
        p.non_member_access_len = strlen(nma);
    }

    if (secret) {
        p.secret = (const unsigned char *) secret;
        p.secret_len = strlen(secret);
    }

    return p;
}


static void
test_shape(void **state)
{
    ngx_cms_slot_put_t  p;

    (void) state;

    p = put_of(MEETING, "true", SECRET);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OPEN);

    p = put_of("TMS_Scheduled_Meeting_1", "false", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_CLOSE);

    /* another slot's placeholder is not this slot's check-in */
    assert_int_equal(ngx_cms_slot_shape(&tms, 2, &p), NGX_CMS_SLOT_PUT_OTHER);

    /* a placeholder name opened, or a meeting name closed: neither */
    p = put_of("TMS_Scheduled_Meeting_1", "true", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);
    p = put_of(MEETING, "false", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);

    /* no name, no flag, an odd flag, an empty name */
    p = put_of(NULL, "true", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);
    p = put_of(MEETING, NULL, NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);
    p = put_of(MEETING, "yes", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);

    /* the flag in another case: the bridge may well take it */
    p = put_of(MEETING, "TRUE", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OPEN);
    p = put_of("", "true", NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);
    p = put_of("TMS_Scheduled_Meeting_1", NULL, NULL);
    assert_int_equal(ngx_cms_slot_shape(&tms, 1, &p), NGX_CMS_SLOT_PUT_OTHER);
}


/* the seed 000 life cycle: open, extend, close */

static void
test_life_cycle(void **state)
{
    uint64_t               key, name_key;
    ngx_cms_slot_put_t     open, close;
    ngx_cms_slot_view_t    slot;
    ngx_cms_slot_action_e  a;

    (void) state;

    memset(&slot, 0, sizeof(slot));

    open = put_of(MEETING, "true", SECRET);
    close = put_of("TMS_Scheduled_Meeting_1", "false", NULL);

    a = ngx_cms_slot_decide(&tms, 1, &slot, &open, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CHECKOUT);
    assert_true(key == ngx_cms_slot_meeting_key(S(MEETING), S(SECRET)));
    assert_true(name_key == ngx_cms_slot_name_key(S(MEETING)));

    slot.state = NGX_CMS_SLOT_IN_USE;
    slot.key = key;
    slot.name_key = name_key;

    a = ngx_cms_slot_decide(&tms, 1, &slot, &open, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_EXTEND);

    a = ngx_cms_slot_decide(&tms, 1, &slot, &close, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CHECKIN);
    assert_true(key == 0 && name_key == 0);

    /* a stuck slot is still held: closing or extending it works */
    slot.state = NGX_CMS_SLOT_STUCK;
    a = ngx_cms_slot_decide(&tms, 1, &slot, &close, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CHECKIN);
    a = ngx_cms_slot_decide(&tms, 1, &slot, &open, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_EXTEND);

    /* closing a free slot changes nothing */
    memset(&slot, 0, sizeof(slot));
    a = ngx_cms_slot_decide(&tms, 1, &slot, &close, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_NONE);
}


static void
test_double_booking(void **state)
{
    uint64_t               key, name_key;
    ngx_cms_slot_put_t     p;
    ngx_cms_slot_view_t    slot;
    ngx_cms_slot_action_e  a;

    (void) state;

    slot.state = NGX_CMS_SLOT_IN_USE;
    slot.key = ngx_cms_slot_meeting_key(S(MEETING), S(SECRET));
    slot.name_key = ngx_cms_slot_name_key(S(MEETING));

    /* another meeting */
    p = put_of("Board meeting", "true", "s2");
    a = ngx_cms_slot_decide(&tms, 1, &slot, &p, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CONFLICT);

    /* same title, another secret: another meeting */
    p = put_of(MEETING, "true", "s2");
    a = ngx_cms_slot_decide(&tms, 1, &slot, &p, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CONFLICT);

    /* same title, no secret: the holder extending without one */
    p = put_of(MEETING, "true", NULL);
    a = ngx_cms_slot_decide(&tms, 1, &slot, &p, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_EXTEND);

    /* another title, no secret */
    p = put_of("Board meeting", "true", NULL);
    a = ngx_cms_slot_decide(&tms, 1, &slot, &p, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_CONFLICT);

    /* a PUT that books nothing is never a conflict */
    p = put_of(NULL, "true", NULL);
    a = ngx_cms_slot_decide(&tms, 1, &slot, &p, &key, &name_key);
    assert_int_equal(a, NGX_CMS_SLOT_ACT_NONE);
}


static void
test_names(void **state)
{
    (void) state;

    assert_string_equal(ngx_cms_slot_action_name(NGX_CMS_SLOT_ACT_CHECKOUT),
                        "checkout");
    assert_string_equal(ngx_cms_slot_action_name(NGX_CMS_SLOT_ACT_CONFLICT),
                        "conflict");
    assert_string_equal(ngx_cms_slot_action_name(NGX_CMS_SLOT_ACT_NONE),
                        "none");
    assert_string_equal(ngx_cms_slot_state_name(NGX_CMS_SLOT_STUCK),
                        "stuck");
    assert_string_equal(ngx_cms_slot_state_name(NGX_CMS_SLOT_FREE), "free");
    assert_string_equal(ngx_cms_slot_shape_name(NGX_CMS_SLOT_PUT_CLOSE),
                        "close");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_tms),
        cmocka_unit_test(test_parse_affixes_and_escapes),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_pool_same),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_life_cycle),
        cmocka_unit_test(test_double_booking),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests_name("slot_model", tests, setup_tms, NULL);
}
