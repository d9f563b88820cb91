/*
 * Unit tests for ngx_cms_form.c: urlencoded bodies.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_cms_form.h"


#define MAX_PARAMS  64


/* the bodies TMS and CMM were seen to send (cms-api-notes.md 1.3, 1.15) */

#define TMS_PUT_COSPACE                                                       \
    "&nonMemberAccess=true&passcode=&name=Tim Kratzke Acano TMSXE Test "      \
    "Meeting&secret=Zx3pR_9ab-CdEfGh"

#define TMS_BULK_SET                                                          \
    "startIndex=1&endIndex=5&coSpaceUriMapping=&coSpaceNameMapping="          \
    "TMS_Scheduled_Meeting_$index$&coSpaceCallIdMapping=&callProfile="        \
    "1285fa9c-f221-4af7-8462-51cf1d7542eb&callLegProfile="                    \
    "734447d1-4251-442f-b127-ab3304b643f8&nonMemberAccess=false"

#define CMM_MOVE                                                              \
    "movedParticipant=26de0160-30b5-4d7b-8a05-304472af284a"                   \
    "&needsActivation=false"

#define TMS_CALL_PROFILE  "participantLimit=1000&messageBoardEnabled=false"

#define TMS_CALL_LEG_PROFILE                                                  \
    "defaultLayout=telepresence&changeLayoutAllowed=true"                     \
    "&presentationContributionAllowed=true&presentationViewingAllowed=true"   \
    "&muteSelfAllowed=true&videoMuteSelfAllowed=true"


typedef struct {
    const char  *name;
    const char  *value;      /* NULL: no '=' */
} kv_t;


typedef struct {
    unsigned char         *scratch;
    ngx_cms_form_param_t   params[MAX_PARAMS];
    size_t                 n;
    ngx_cms_form_error_t   err;
} parsed_t;


/*
 * Parses with a scratch buffer of exactly the documented size, allocated
 * on its own so that ASan sees a write past it.
 */

static int
parse_n(parsed_t *p, const char *body, size_t len, size_t max)
{
    int     rc;
    size_t  size;

    size = NGX_CMS_FORM_SCRATCH_SIZE(len);

    p->scratch = malloc(size ? size : 1);
    assert_non_null(p->scratch);

    rc = ngx_cms_form_parse((const unsigned char *) body, len, p->scratch,
                            size, p->params, max, &p->n, &p->err);

    assert_int_equal(p->err.code, rc);
    assert_non_null(p->err.message);

    return rc;
}


static int
parse(parsed_t *p, const char *body)
{
    return parse_n(p, body, strlen(body), MAX_PARAMS);
}


static void
done(parsed_t *p)
{
    free(p->scratch);
    p->scratch = NULL;
}


/* whether len bytes at p lie within size bytes at base */

static int
inside(const void *base, size_t size, const void *p, size_t len)
{
    return (const char *) p >= (const char *) base
           && (const char *) p + len <= (const char *) base + size;
}


static void
assert_params(const char *body, const parsed_t *p, const kv_t *kv,
    size_t n)
{
    size_t                       i, len;
    const void                  *in;
    const ngx_cms_form_param_t  *prm;

    if (p->n != n) {
        fail_msg("\"%s\": %zu params, expected %zu", body, p->n, n);
    }

    len = strlen(body);

    /*
     * a body with nothing to decode gives its own bytes, any other one
     * the scratch's
     */

    in = strpbrk(body, "%+") ? (const void *) p->scratch : body;

    for (i = 0; i < n; i++) {
        prm = &p->params[i];

        assert_int_equal(prm->name_len, strlen(kv[i].name));
        assert_memory_equal(prm->name, kv[i].name, prm->name_len);
        assert_int_equal(prm->has_eq, kv[i].value != NULL);

        assert_int_equal(prm->value_len,
                         kv[i].value ? strlen(kv[i].value) : 0);
        assert_memory_equal(prm->value, kv[i].value ? kv[i].value : "",
                            prm->value_len);

        assert_true(inside(in, in == body ? len : len + 1, prm->name,
                           prm->name_len));
        assert_true(inside(in, in == body ? len : len + 1, prm->value,
                           prm->value_len));
    }
}


/* the raw name and value of parameter i of body */

static void
assert_raw(const char *body, size_t i, const char *name, const char *value)
{
    ngx_cms_span_t  n, v;

    ngx_cms_form_raw((const unsigned char *) body, strlen(body), i, &n, &v);

    assert_int_equal(n.len, strlen(name));
    assert_memory_equal(n.data, name, n.len);
    assert_int_equal(v.len, strlen(value));
    assert_memory_equal(v.data, value, v.len);
    assert_true(inside(body, strlen(body), n.data, n.len));
    assert_true(inside(body, strlen(body), v.data, v.len));
}


static void
test_tms_put_cospace(void **state)
{
    parsed_t  p;

    static const kv_t  kv[] = {
        { "nonMemberAccess", "true" },
        { "passcode", "" },
        { "name", "Tim Kratzke Acano TMSXE Test Meeting" },
        { "secret", "Zx3pR_9ab-CdEfGh" },
    };

    (void) state;

    assert_int_equal(parse(&p, TMS_PUT_COSPACE), NGX_CMS_FORM_OK);
    assert_params(TMS_PUT_COSPACE, &p, kv, 4);

    assert_raw(TMS_PUT_COSPACE, 2, "name",
               "Tim Kratzke Acano TMSXE Test Meeting");

    /* the body's own bytes, none copied */
    assert_ptr_equal(p.params[0].name,
                     (const unsigned char *) TMS_PUT_COSPACE + 1);
    assert_ptr_equal(p.params[2].value,
                     (const unsigned char *) strstr(TMS_PUT_COSPACE, "Tim"));

    assert_string_equal(p.err.message, "ok");
    done(&p);
}


static void
test_tms_bulk_set(void **state)
{
    parsed_t  p;

    static const kv_t  kv[] = {
        { "startIndex", "1" },
        { "endIndex", "5" },
        { "coSpaceUriMapping", "" },
        { "coSpaceNameMapping", "TMS_Scheduled_Meeting_$index$" },
        { "coSpaceCallIdMapping", "" },
        { "callProfile", "1285fa9c-f221-4af7-8462-51cf1d7542eb" },
        { "callLegProfile", "734447d1-4251-442f-b127-ab3304b643f8" },
        { "nonMemberAccess", "false" },
    };

    (void) state;

    assert_int_equal(parse(&p, TMS_BULK_SET), NGX_CMS_FORM_OK);
    assert_params(TMS_BULK_SET, &p, kv, 8);
    done(&p);
}


static void
test_cmm_move(void **state)
{
    parsed_t               p;
    ngx_cms_form_param_t  *prm;

    static const kv_t  kv[] = {
        { "movedParticipant", "26de0160-30b5-4d7b-8a05-304472af284a" },
        { "needsActivation", "false" },
    };

    (void) state;

    assert_int_equal(parse(&p, CMM_MOVE), NGX_CMS_FORM_OK);
    assert_params(CMM_MOVE, &p, kv, 2);

    prm = ngx_cms_form_get(p.params, p.n, "movedParticipant");
    assert_ptr_equal(prm, &p.params[0]);
    done(&p);
}


static void
test_other_seed_bodies(void **state)
{
    parsed_t  p;

    static const kv_t  profile[] = {
        { "participantLimit", "1000" },
        { "messageBoardEnabled", "false" },
    };

    static const kv_t  leg_profile[] = {
        { "defaultLayout", "telepresence" },
        { "changeLayoutAllowed", "true" },
        { "presentationContributionAllowed", "true" },
        { "presentationViewingAllowed", "true" },
        { "muteSelfAllowed", "true" },
        { "videoMuteSelfAllowed", "true" },
    };

    static const kv_t  leg[] = {
        { "remoteParty", "desk.ex90@tkratzke.local" },
    };

    (void) state;

    assert_int_equal(parse(&p, TMS_CALL_PROFILE), NGX_CMS_FORM_OK);
    assert_params(TMS_CALL_PROFILE, &p, profile, 2);
    done(&p);

    assert_int_equal(parse(&p, TMS_CALL_LEG_PROFILE), NGX_CMS_FORM_OK);
    assert_params(TMS_CALL_LEG_PROFILE, &p, leg_profile, 6);
    done(&p);

    assert_int_equal(parse(&p, "remoteParty=desk.ex90@tkratzke.local"),
                     NGX_CMS_FORM_OK);
    assert_params("remoteParty=desk.ex90@tkratzke.local", &p, leg, 1);
    done(&p);
}


static void
test_empty_components(void **state)
{
    size_t    i;
    parsed_t  p;

    static const kv_t  kv[] = {
        { "a", "1" },
        { "b", "2" },
    };

    static const char  *bodies[] = {
        "a=1&b=2", "&a=1&b=2", "a=1&b=2&", "&&a=1&&&b=2&&", "&a=1&&b=2&",
    };

    static const char  *empty[] = { "", "&", "&&", "&&&&&" };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(parse(&p, bodies[i]), NGX_CMS_FORM_OK);
        assert_params(bodies[i], &p, kv, 2);
        done(&p);
    }

    for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        /* empty components are skipped even with no room for params */
        assert_int_equal(parse_n(&p, empty[i], strlen(empty[i]), 0),
                         NGX_CMS_FORM_OK);
        assert_int_equal(p.n, 0);
        done(&p);
    }
}


static void
test_decoding(void **state)
{
    parsed_t  p;

    static const char  body[] =
        "a+b=c%20d%2b%2B%41%7e%7E&x%3Dy=1%262&semi=a;b=c&eq=a=b=c&"
        "utf=%C3%A9t%c3%a9&raw=\xc3\xa9 \t~";

    static const kv_t  kv[] = {
        { "a b", "c d++A~~" },
        { "x=y", "1&2" },
        { "semi", "a;b=c" },
        { "eq", "a=b=c" },
        { "utf", "\xc3\xa9t\xc3\xa9" },
        { "raw", "\xc3\xa9 \t~" },
    };

    (void) state;

    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);
    assert_params(body, &p, kv, 6);

    /* raw spans keep the encoding */
    assert_raw(body, 0, "a+b", "c%20d%2b%2B%41%7e%7E");
    assert_raw(body, 1, "x%3Dy", "1%262");
    done(&p);
}


static void
test_no_equals(void **state)
{
    parsed_t  p;

    static const char  body[] = "flag&x=&y&z=1";

    static const kv_t  kv[] = {
        { "flag", NULL },
        { "x", "" },
        { "y", NULL },
        { "z", "1" },
    };

    (void) state;

    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);
    assert_params(body, &p, kv, 4);

    assert_raw(body, 0, "flag", "");
    assert_raw(body, 1, "x", "");
    assert_raw(body, 3, "z", "1");
    assert_int_equal(p.params[1].has_eq, 1);

    /* a name alone: its value is empty, at its name's end */
    assert_ptr_equal(p.params[0].value, p.params[0].name + 4);
    done(&p);
}


static void
test_duplicates(void **state)
{
    parsed_t               p;
    ngx_cms_form_param_t  *prm;

    static const char  body[] = "name=one&Name=two&name=three";

    static const kv_t  kv[] = {
        { "name", "one" },
        { "Name", "two" },
        { "name", "three" },
    };

    (void) state;

    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);
    assert_params(body, &p, kv, 3);

    /* names without case, as CMS reads them: the first of any spelling */

    prm = ngx_cms_form_get(p.params, p.n, "name");
    assert_ptr_equal(prm, &p.params[0]);

    prm = ngx_cms_form_get(p.params, p.n, "Name");
    assert_ptr_equal(prm, &p.params[0]);

    prm = ngx_cms_form_get(p.params, p.n, "NAME");
    assert_ptr_equal(prm, &p.params[0]);

    assert_null(ngx_cms_form_get(p.params, p.n, "nam"));
    assert_null(ngx_cms_form_get(p.params, p.n, ""));

    /* the second spelling repeats the first: ambiguous */

    assert_ptr_equal(ngx_cms_form_repeated(p.params, p.n), &p.params[1]);
    assert_null(ngx_cms_form_repeated(p.params, 1));

    prm = ngx_cms_form_get_n(p.params, p.n, (const unsigned char *) "namex",
                             4);
    assert_ptr_equal(prm, &p.params[0]);

    assert_null(ngx_cms_form_get(p.params, 0, "name"));
    done(&p);
}


/*
 * ngx_cms_form_repeated() compares only names of a length seen before
 * (modulo 64): lengths 1 and 65 share a bit and must still be told
 * apart, and the first name to repeat an earlier one is the answer,
 * wherever the earlier one is.
 */

static void
test_repeated(void **state)
{
    char      body[512];
    char      a65[66], b65[66];
    parsed_t  p;

    (void) state;

    memset(a65, 'a', 65);
    a65[65] = '\0';
    memcpy(b65, a65, sizeof(a65));
    b65[64] = 'B';

    /* 1 and 65 bytes, 65 bytes differing in the last: no repeat */

    snprintf(body, sizeof(body), "x=1&%s=2&y=3&%s=4", a65, b65);
    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);
    assert_int_equal(p.n, 4);
    assert_null(ngx_cms_form_repeated(p.params, p.n));
    done(&p);

    /* the same 65 bytes in another case, three names later */

    b65[64] = 'A';
    snprintf(body, sizeof(body), "%s=1&x=2&yy=3&%s=4&x=5", a65, b65);
    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);
    assert_ptr_equal(ngx_cms_form_repeated(p.params, p.n), &p.params[3]);
    done(&p);

    /* same lengths, other names, then a repeat of the first */

    assert_int_equal(parse(&p, "ab=1&cd=2&ef=3&AB=4"), NGX_CMS_FORM_OK);
    assert_ptr_equal(ngx_cms_form_repeated(p.params, p.n), &p.params[3]);
    done(&p);

    assert_int_equal(parse(&p, "ab=1&cd=2&ef=3&gh=4"), NGX_CMS_FORM_OK);
    assert_null(ngx_cms_form_repeated(p.params, p.n));
    done(&p);
}


static void
test_errors(void **state)
{
    int       rc;
    size_t    i;
    parsed_t  p;

    static const struct {
        const char  *body;
        size_t       len;          /* 0: strlen */
        int          rc;
        size_t       offset;
        size_t       n;            /* parameters before the error */
    } cases[] = {
        { "%zz=1", 0, NGX_CMS_FORM_E_ESCAPE, 0, 0 },
        { "a=%4", 0, NGX_CMS_FORM_E_ESCAPE, 2, 0 },
        { "a=%", 0, NGX_CMS_FORM_E_ESCAPE, 2, 0 },
        { "a=%4&b=1", 0, NGX_CMS_FORM_E_ESCAPE, 2, 0 },
        { "a=1&b=x%G1", 0, NGX_CMS_FORM_E_ESCAPE, 7, 1 },
        { "a=1&b=x%1G", 0, NGX_CMS_FORM_E_ESCAPE, 7, 1 },
        { "a%=1", 0, NGX_CMS_FORM_E_ESCAPE, 1, 0 },
        { "a=% 1", 0, NGX_CMS_FORM_E_ESCAPE, 2, 0 },
        { "a=%00", 0, NGX_CMS_FORM_E_NUL, 2, 0 },
        { "ok=1&a%00b=1", 0, NGX_CMS_FORM_E_NUL, 6, 1 },
        { "a=b\0c", 5, NGX_CMS_FORM_E_NUL, 3, 0 },
        { "=x", 0, NGX_CMS_FORM_E_EMPTY_NAME, 0, 0 },
        { "=", 0, NGX_CMS_FORM_E_EMPTY_NAME, 0, 0 },
        { "a=1&=x", 0, NGX_CMS_FORM_E_EMPTY_NAME, 4, 1 },
        { "&&=x", 0, NGX_CMS_FORM_E_EMPTY_NAME, 2, 0 },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = parse_n(&p, cases[i].body,
                     cases[i].len ? cases[i].len : strlen(cases[i].body),
                     MAX_PARAMS);

        if (rc != cases[i].rc || p.err.offset != cases[i].offset
            || p.n != cases[i].n)
        {
            fail_msg("\"%s\": rc %d offset %zu n %zu, expected %d %zu %zu",
                     cases[i].body, rc, p.err.offset, p.n, cases[i].rc,
                     cases[i].offset, cases[i].n);
        }

        done(&p);
    }

    assert_int_equal(parse(&p, "a=%zz"), NGX_CMS_FORM_E_ESCAPE);
    assert_string_equal(p.err.message, "bad percent-escape");
    done(&p);

    assert_int_equal(parse(&p, "a=%00"), NGX_CMS_FORM_E_NUL);
    assert_string_equal(p.err.message, "NUL byte");
    done(&p);

    assert_int_equal(parse(&p, "=a"), NGX_CMS_FORM_E_EMPTY_NAME);
    assert_string_equal(p.err.message, "empty parameter name");
    done(&p);
}


static void
test_max_params(void **state)
{
    parsed_t  p;

    (void) state;

    /* exactly max_params fit */

    assert_int_equal(parse_n(&p, "a=1&b&c=3", 9, 3), NGX_CMS_FORM_OK);
    assert_int_equal(p.n, 3);
    done(&p);

    /* empty components do not count */

    assert_int_equal(parse_n(&p, "&a=1&&b&c=3&", 12, 3), NGX_CMS_FORM_OK);
    assert_int_equal(p.n, 3);
    done(&p);

    /* one more is an error at the start of the extra component */

    assert_int_equal(parse_n(&p, "a=1&b&c=3", 9, 2), NGX_CMS_FORM_E_TOO_MANY);
    assert_int_equal(p.err.offset, 6);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.err.message, "too many parameters");
    done(&p);

    assert_int_equal(parse_n(&p, "a", 1, 0), NGX_CMS_FORM_E_TOO_MANY);
    assert_int_equal(p.err.offset, 0);
    assert_int_equal(p.n, 0);
    done(&p);
}


static void
test_scratch(void **state)
{
    int                    rc;
    size_t                 i, k, n, len;
    unsigned char          scratch[32];
    ngx_cms_form_param_t   params[8];
    ngx_cms_form_error_t   err;

    /* bodies to decode that need the most scratch for their length */

    static const char  *worst[] = {
        "+", "a+&b", "%41=%42&c", "a+=", "ab=c+&ef=gh", "a&b&c&d&e&f&g+",
    };

    /* and bodies with nothing to decode, which need none */

    static const char  *plain[] = {
        "a", "a&b", "a&b&c&d&e&f&g&h", "a=&b=", "a=", "ab=cd&ef=gh",
    };

    (void) state;

    for (i = 0; i < sizeof(worst) / sizeof(worst[0]); i++) {
        len = strlen(worst[i]);

        memset(scratch, 0xa5, sizeof(scratch));

        rc = ngx_cms_form_parse((const unsigned char *) worst[i], len,
                                scratch, NGX_CMS_FORM_SCRATCH_SIZE(len),
                                params, 8, &n, &err);
        assert_int_equal(rc, NGX_CMS_FORM_OK);

        /* nothing written past the documented size */
        assert_int_equal(scratch[NGX_CMS_FORM_SCRATCH_SIZE(len)], 0xa5);
    }

    for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        len = strlen(plain[i]);

        memset(scratch, 0xa5, sizeof(scratch));

        rc = ngx_cms_form_parse((const unsigned char *) plain[i], len,
                                scratch, 0, params, 8, &n, &err);
        assert_int_equal(rc, NGX_CMS_FORM_OK);

        for (k = 0; k < sizeof(scratch); k++) {
            assert_int_equal(scratch[k], 0xa5);
        }
    }

    /* too little is refused, not overflowed */

    rc = ngx_cms_form_parse((const unsigned char *) "a&b+", 4, scratch, 2,
                            params, 8, &n, &err);
    assert_int_equal(rc, NGX_CMS_FORM_E_SCRATCH);
    assert_int_equal(err.offset, 2);
    assert_int_equal(n, 1);

    rc = ngx_cms_form_parse((const unsigned char *) "abc=%64", 7, scratch, 0,
                            params, 8, &n, &err);
    assert_int_equal(rc, NGX_CMS_FORM_E_SCRATCH);
    assert_int_equal(err.offset, 0);

    /* err is optional */

    rc = ngx_cms_form_parse((const unsigned char *) "=", 1, scratch, 2,
                            params, 8, &n, NULL);
    assert_int_equal(rc, NGX_CMS_FORM_E_EMPTY_NAME);
}


static void
check_round_trip(const char *body)
{
    size_t          i, len;
    parsed_t        p, q;
    unsigned char  *enc, *end;

    assert_int_equal(parse(&p, body), NGX_CMS_FORM_OK);

    len = ngx_cms_form_encoded_len(p.params, p.n);
    enc = malloc(len + 1);
    assert_non_null(enc);

    end = ngx_cms_form_encode(p.params, p.n, enc);
    assert_int_equal(end - enc, len);
    enc[len] = '\0';

    assert_int_equal(parse(&q, (const char *) enc), NGX_CMS_FORM_OK);

    if (q.n != p.n) {
        fail_msg("\"%s\": %zu params, %zu after the round trip", body, p.n,
                 q.n);
    }

    for (i = 0; i < p.n; i++) {
        if (q.params[i].name_len != p.params[i].name_len
            || memcmp(q.params[i].name, p.params[i].name,
                      p.params[i].name_len) != 0
            || q.params[i].value_len != p.params[i].value_len
            || memcmp(q.params[i].value, p.params[i].value,
                      p.params[i].value_len) != 0
            || q.params[i].has_eq != p.params[i].has_eq)
        {
            fail_msg("\"%s\": param %zu differs after the round trip",
                     body, i);
        }
    }

    done(&q);
    done(&p);
    free(enc);
}


static void
test_round_trip(void **state)
{
    size_t  i;

    static const char  *bodies[] = {
        TMS_PUT_COSPACE, TMS_BULK_SET, CMM_MOVE, TMS_CALL_LEG_PROFILE,
        "", "&", "flag&x=&y", "a+b=c%20d%2b%2B%41%7e&x%3Dy=1%262",
        "semi=a;b=c&eq=a=b=c", "utf=%C3%A9t%c3%a9&raw=\xc3\xa9 \t~\x7f\x01",
        "k=%FF%fe%80", "dup=1&dup=2&dup=",
    };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        check_round_trip(bodies[i]);
    }
}


static void
test_encode(void **state)
{
    size_t                 len;
    parsed_t               p;
    unsigned char          buf[256], *end;
    ngx_cms_form_param_t   prm[2];

    (void) state;

    /* exact output: no leading '&', spaces as '+', upper-case hex */

    assert_int_equal(parse(&p, TMS_PUT_COSPACE), NGX_CMS_FORM_OK);

    len = ngx_cms_form_encoded_len(p.params, p.n);
    end = ngx_cms_form_encode(p.params, p.n, buf);
    *end = '\0';

    assert_string_equal((char *) buf,
                        "nonMemberAccess=true&passcode=&name=Tim+Kratzke+"
                        "Acano+TMSXE+Test+Meeting&secret=Zx3pR_9ab-CdEfGh");
    assert_int_equal(len, strlen((char *) buf));
    done(&p);

    assert_int_equal(parse(&p, "a%2fb=%c3%a9~.-_*+&flag&e="), NGX_CMS_FORM_OK);
    end = ngx_cms_form_encode(p.params, p.n, buf);
    *end = '\0';
    assert_string_equal((char *) buf, "a%2Fb=%C3%A9~.-_%2A+&flag&e=");
    done(&p);

    /* a rewritten value gets its '=' even if the original had none */

    memset(prm, 0, sizeof(prm));
    prm[0].name = (unsigned char *) "flag";
    prm[0].name_len = 4;
    prm[0].value = (unsigned char *) "on & off";
    prm[0].value_len = 8;
    prm[0].has_eq = 0;
    prm[1].name = (unsigned char *) "x";
    prm[1].name_len = 1;
    prm[1].value = (unsigned char *) "";
    prm[1].value_len = 0;
    prm[1].has_eq = 0;

    len = ngx_cms_form_encoded_len(prm, 2);
    end = ngx_cms_form_encode(prm, 2, buf);
    *end = '\0';
    assert_string_equal((char *) buf, "flag=on+%26+off&x");
    assert_int_equal(len, 17);

    /* nothing to encode */

    assert_int_equal(ngx_cms_form_encoded_len(prm, 0), 0);
    assert_ptr_equal(ngx_cms_form_encode(prm, 0, buf), buf);
}


static void
test_escape(void **state)
{
    size_t         n;
    unsigned char  buf[64];

    static const unsigned char  src[] = "Az09-._~ +&=%/\x00\xff";

    (void) state;

    n = ngx_cms_form_escape(NULL, src, sizeof(src) - 1);
    assert_int_equal(n, 8 + 1 + 3 * 7);

    assert_int_equal(ngx_cms_form_escape(buf, src, sizeof(src) - 1), n);
    assert_memory_equal(buf, "Az09-._~+%2B%26%3D%25%2F%00%FF", n);

    assert_int_equal(ngx_cms_form_escape(NULL, src, 0), 0);
}


static int
secret(const char *name)
{
    return ngx_cms_form_is_secret((const unsigned char *) name,
                                  strlen(name));
}


static void
test_is_secret(void **state)
{
    size_t  i;

    static const char  *yes[] = {
        "passcode", "secret", "password", "PASSCODE", "Secret",
        "guestPasscode", "authenticationPassword", "sharedSecret",
        "apiToken", "accessTokenSecret", "privateKey", "KEY", "keyFile",
        "hostPasscode",
    };

    static const char  *no[] = {
        "name", "nonMemberAccess", "uri", "callId", "remoteParty",
        "movedParticipant", "", "pass", "secre", "ke", "tokn",
        "regenerateSecret", "passcodeMode", "passcodeTimeout",
        "RegenerateSecret", "allowPasscodes", "canChangePasscode",
    };

    (void) state;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!secret(yes[i])) {
            fail_msg("\"%s\" should be secret", yes[i]);
        }
    }

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (secret(no[i])) {
            fail_msg("\"%s\" should not be secret", no[i]);
        }
    }

    /* the length counts, not a NUL */
    assert_false(ngx_cms_form_is_secret((const unsigned char *) "secret",
                                        5));
    assert_true(ngx_cms_form_is_secret((const unsigned char *) "a\0secret",
                                       8));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_tms_put_cospace),
        cmocka_unit_test(test_tms_bulk_set),
        cmocka_unit_test(test_cmm_move),
        cmocka_unit_test(test_other_seed_bodies),
        cmocka_unit_test(test_empty_components),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_no_equals),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_max_params),
        cmocka_unit_test(test_scratch),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_is_secret),
    };

    return cmocka_run_group_tests_name("ngx_cms_form", tests, NULL, NULL);
}
