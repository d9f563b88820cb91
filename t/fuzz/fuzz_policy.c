/*
 * libFuzzer target for the policy rule language (plugins/policy/
 * ngx_cms_policy_parse.c and ngx_cms_policy_match.c): the parser of a
 * cms_policy_rule's words and of a cms_policy_role grant, and the
 * matcher that applies a parsed rule to a request.
 *
 * Input, in lines: the rule's words (split at spaces, as nginx would
 * tokenize them); a grant (role, then pattern); the request: operation,
 * method, role; then one "name=value" parameter a line.  Regular
 * expressions are compiled by PCRE2 with a match limit, as nginx would.
 *
 * Besides memory errors, it checks: a refused rule says why in a
 * NUL-terminated message; every span of a parsed rule lies in the input;
 * a REFUSE result has a status and a NUL-free reason inside its buffer;
 * a SET result names a parameter that exists, or the one after the last.
 */


#define PCRE2_CODE_UNIT_WIDTH 8

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "ngx_cms_policy_rule.h"


#define check(cond)  if (!(cond)) { abort(); }

#define MAX_ARGS    48
#define MAX_PARAMS  16
#define MAX_RES     64


static pcre2_code            *compiled[MAX_RES];
static size_t                 ncompiled;
static pcre2_match_context   *mctx;


static void *
compile(void *data, const ngx_cms_span_t *pattern, int caseless, char *err,
    size_t errlen)
{
    int           rc;
    PCRE2_SIZE    off;
    pcre2_code   *re;

    (void) data;

    if (ncompiled == MAX_RES) {
        snprintf(err, errlen, "too many expressions");
        return NULL;
    }

    re = pcre2_compile(pattern->data, pattern->len,
                       caseless ? PCRE2_CASELESS : 0, &rc, &off, NULL);

    if (re == NULL) {
        snprintf(err, errlen, "bad regular expression");
        return NULL;
    }

    compiled[ncompiled++] = re;

    return re;
}


static int
exec(void *re, const unsigned char *s, size_t len)
{
    int                 rc;
    pcre2_match_data   *md;

    md = pcre2_match_data_create(1, NULL);
    rc = pcre2_match(re, s, len, 0, 0, md, mctx);
    pcre2_match_data_free(md);

    if (rc >= 0) {
        return 1;
    }

    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}


static void
check_span(const uint8_t *base, size_t size, const ngx_cms_span_t *s)
{
    if (s->len) {
        check(s->data >= base && s->data + s->len <= base + size);
    }
}


/* the next line of the input, or an empty span at its end */

static ngx_cms_span_t
line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t   *nl;
    ngx_cms_span_t   s;

    nl = memchr(*p, '\n', end - *p);
    s.data = (unsigned char *) *p;
    s.len = (nl ? nl : end) - *p;
    *p = nl ? nl + 1 : end;

    return s;
}


static size_t
words(ngx_cms_span_t l, ngx_cms_span_t *args, size_t max)
{
    size_t  n, i, start;

    n = 0;
    i = 0;

    while (i < l.len && n < max) {
        while (i < l.len && l.data[i] == ' ') {
            i++;
        }

        start = i;

        while (i < l.len && l.data[i] != ' ') {
            i++;
        }

        if (i > start) {
            args[n].data = l.data + start;
            args[n].len = i - start;
            n++;
        }
    }

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       rc;
    char                      op[64];
    size_t                    nargs, ngw, i, n, np;
    uint8_t                  *buf, *eq;
    const uint8_t            *p, *end;
    ngx_cms_span_t            l, args[MAX_ARGS], gw[2], role;
    ngx_cms_policy_req_t      req;
    ngx_cms_policy_rule_t     rule;
    ngx_cms_policy_grant_t    grant;
    ngx_cms_policy_param_t    params[MAX_PARAMS];
    ngx_cms_policy_result_t   res;
    char                      err[NGX_CMS_POLICY_ERR_LEN];

    if (mctx == NULL) {
        mctx = pcre2_match_context_create(NULL);
        pcre2_set_match_limit(mctx, 10000);
        pcre2_set_depth_limit(mctx, 1000);
    }

    buf = malloc(size ? size : 1);
    check(buf != NULL);
    memcpy(buf, data, size);

    p = buf;
    end = buf + size;

    /* the rule */

    nargs = words(line(&p, end), args, MAX_ARGS);

    memset(&rule, 0, sizeof(rule));
    memset(err, 'x', sizeof(err));
    ncompiled = 0;

    rc = ngx_cms_policy_rule_parse(&rule, args, nargs, compile, NULL, err,
                                   sizeof(err));
    check(rc == 0 || rc == -1);

    if (rc != 0) {
        check(memchr(err, '\0', sizeof(err)) != NULL);
        check(err[0] != '\0');

    } else {
        check_span(buf, size, &rule.name);
        check(rule.nops <= NGX_CMS_POLICY_MAX_OPS);
        check(rule.nroles <= NGX_CMS_POLICY_MAX_ROLES);
        check(rule.nconds <= NGX_CMS_POLICY_MAX_CONDS);

        for (i = 0; i < rule.nops; i++) {
            check_span(buf, size, &rule.ops[i]);
        }

        for (i = 0; i < rule.nroles; i++) {
            check_span(buf, size, &rule.roles[i]);
        }

        for (i = 0; i < rule.nconds; i++) {
            check_span(buf, size, &rule.conds[i].name);
            check_span(buf, size, &rule.conds[i].pattern);
        }

        check_span(buf, size, &rule.error);
        check_span(buf, size, &rule.reason);
        check_span(buf, size, &rule.zone);
    }

    /* the grant */

    ngw = words(line(&p, end), gw, 2);

    memset(&grant, 0, sizeof(grant));
    memset(err, 'x', sizeof(err));

    if (ngw == 2) {
        rc = ngx_cms_policy_grant_parse(&grant, &gw[0], &gw[1], err,
                                        sizeof(err));
        check(rc == 0 || rc == -1);

        if (rc != 0) {
            check(memchr(err, '\0', sizeof(err)) != NULL);
            ngw = 0;
        }

    } else {
        ngw = 0;
    }

    /* the request */

    l = line(&p, end);
    n = l.len < sizeof(op) - 1 ? l.len : sizeof(op) - 1;
    memcpy(op, l.data, n);
    op[n] = '\0';

    memset(&req, 0, sizeof(req));
    req.operation = op;

    l = line(&p, end);
    req.method = ngx_cms_policy_method(l.data, l.len);
    if (req.method == 0) {
        req.method = NGX_CMS_POLICY_GET;
    }

    role = line(&p, end);
    req.role = role;

    np = 0;

    while (p < end && np < MAX_PARAMS) {
        l = line(&p, end);
        eq = memchr(l.data, '=', l.len);

        params[np].name.data = l.data;
        params[np].name.len = eq ? (size_t) (eq - l.data) : l.len;
        params[np].value.data = eq ? eq + 1 : l.data + l.len;
        params[np].value.len = eq ? l.len - (eq + 1 - l.data) : 0;
        np++;
    }

    req.params = params;
    req.nparams = np;

    if (ngw) {
        (void) ngx_cms_policy_grant_match(&grant, &req);
    }

    if (rc == 0 && nargs) {
        memset(&res, 0, sizeof(res));

        ngx_cms_policy_rule_check(&rule, &req, exec, &res);

        switch (res.outcome) {

        case NGX_CMS_POLICY_SKIP:
        case NGX_CMS_POLICY_PERMIT:
        case NGX_CMS_POLICY_METER:
            break;

        case NGX_CMS_POLICY_REFUSE:
            check(res.status >= 100 && res.status <= 599);
            check(res.reason_len < sizeof(res.reason));
            check(memchr(res.reason, '\0', res.reason_len) == NULL);
            break;

        case NGX_CMS_POLICY_SET:
            check(res.index <= np);
            break;

        default:
            check(0);
        }
    }

    for (i = 0; i < ncompiled; i++) {
        pcre2_code_free(compiled[i]);
    }

    ncompiled = 0;
    free(buf);

    return 0;
}
