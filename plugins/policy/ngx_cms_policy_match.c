/*
 * ngx_cms policy: rules and role grants, matched against a request.
 *
 * Every condition of a rule must hold for it to apply.  Two choices here
 * are about safety rather than taste:
 *
 *   - parameter names are compared without regard to case, so a rule
 *     about "remoteParty" also judges "REMOTEPARTY": whether CMS treats
 *     them alike is not documented, and judging both is right either way;
 *
 *   - a parameter a rule has to look at that occurs more than once is a
 *     refusal: which of the values the bridge would act on is not
 *     documented either, so no value can be judged as the one that counts.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "ngx_cms_bytes.h"
#include "ngx_cms_policy_rule.h"


/* the request's operation is this name: lengths first */
#define ngx_cms_policy_op_is(req, name)                                       \
    ((req)->operation_len == sizeof(name) - 1                                 \
     && ngx_cms_bytes_eq((req)->operation, name, sizeof(name) - 1))


/* test results */
#define NGX_CMS_POLICY_T_REPEATED  -2
#define NGX_CMS_POLICY_T_ERROR     -1


static int ngx_cms_policy_op_match(const ngx_cms_span_t *pattern,
    const ngx_cms_policy_req_t *req);
static int ngx_cms_policy_applies(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req);
static int ngx_cms_policy_find(const ngx_cms_policy_req_t *req,
    const ngx_cms_span_t *name, size_t *index);
static int ngx_cms_policy_cond(const ngx_cms_policy_test_t *t,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec);
static int ngx_cms_policy_value(const ngx_cms_policy_test_t *t,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    size_t *index);
static void ngx_cms_policy_meetings(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_result_t *res);
static void ngx_cms_policy_cap(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_result_t *res);
static void ngx_cms_policy_require(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    ngx_cms_policy_result_t *res);
static void ngx_cms_policy_refuse(const ngx_cms_policy_rule_t *rule,
    ngx_cms_policy_result_t *res, unsigned status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void ngx_cms_policy_refuse_test(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_span_t *name, int rc, ngx_cms_policy_result_t *res);
static int ngx_cms_policy_caseeq(const unsigned char *a,
    const unsigned char *b, size_t len);


int
ngx_cms_policy_grant_match(const ngx_cms_policy_grant_t *grant,
    const ngx_cms_policy_req_t *req)
{
    if (grant->role.len != req->role.len
        || !ngx_cms_bytes_eq(grant->role.data, req->role.data, req->role.len))
    {
        return 0;
    }

    if (grant->methods) {
        return (grant->methods & req->method) != 0;
    }

    return ngx_cms_policy_op_match(&grant->pattern, req);
}


/*
 * An operation as rules and grants name it: a name without '*' matches
 * only itself (lengths first, then the bytes: most rules name other
 * operations), a pattern as the classifier's table says.
 */

static int
ngx_cms_policy_op_match(const ngx_cms_span_t *pattern,
    const ngx_cms_policy_req_t *req)
{
    if (req->operation == NULL) {
        return 0;
    }

    if (pattern->len && pattern->data[pattern->len - 1] != '*') {
        return pattern->len == req->operation_len
               && ngx_cms_bytes_eq(pattern->data, req->operation,
                                   pattern->len);
    }

    return ngx_cms_api_operation_match(pattern->data, pattern->len,
                                       req->operation);
}


void
ngx_cms_policy_rule_check(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    ngx_cms_policy_result_t *res)
{
    int      rc;
    size_t   i, index;

    /*
     * All but the reason's text, which only a refusal writes (and
     * terminates): zeroing its 256 bytes for every rule of every call
     * cost more than most rules' checks.
     */

    memset(res, 0, offsetof(ngx_cms_policy_result_t, reason));
    res->reason[0] = '\0';
    memset(&res->reason_len, 0,
           sizeof(ngx_cms_policy_result_t)
           - offsetof(ngx_cms_policy_result_t, reason_len));

    res->outcome = NGX_CMS_POLICY_SKIP;

    if (rule->action == NGX_CMS_POLICY_MEETINGS) {
        ngx_cms_policy_meetings(rule, req, res);
        return;
    }

    if (!ngx_cms_policy_applies(rule, req)) {
        return;
    }

    for (i = 0; i < rule->nconds; i++) {
        rc = ngx_cms_policy_cond(&rule->conds[i], req, exec);

        if (rc < 0) {
            ngx_cms_policy_refuse_test(rule, &rule->conds[i].name, rc, res);
            return;
        }

        if (rc == 0) {
            return;
        }
    }

    switch (rule->action) {

    case NGX_CMS_POLICY_ALLOW:
    case NGX_CMS_POLICY_DENY:

        if (rule->has_param) {
            rc = ngx_cms_policy_value(&rule->param, req, exec, &index);

            if (rc < 0) {
                ngx_cms_policy_refuse_test(rule, &rule->param.name, rc, res);
                return;
            }

            if (rc == 0) {
                return;
            }
        }

        if (rule->action == NGX_CMS_POLICY_ALLOW) {
            res->outcome = NGX_CMS_POLICY_PERMIT;
            return;
        }

        if (!rule->has_param && rule->nroles) {
            ngx_cms_policy_refuse(rule, res,
                                  rule->nconds ? NGX_CMS_POLICY_PARAM_STATUS
                                               : NGX_CMS_POLICY_ROLE_STATUS,
                                  "%s is not allowed for role \"%.*s\"",
                                  req->operation,
                                  (int) req->role.len,
                                  req->role.len
                                  ? (const char *) req->role.data : "");

        } else if (!rule->has_param) {
            ngx_cms_policy_refuse(rule, res,
                                  rule->nconds ? NGX_CMS_POLICY_PARAM_STATUS
                                               : NGX_CMS_POLICY_ROLE_STATUS,
                                  "%s is not allowed", req->operation);

        } else if (rule->param.pattern.len == 0) {
            ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                                  "%.*s is not allowed",
                                  ngx_cms_policy_str(&rule->param.name));

        } else {
            ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                                  "%.*s %s %.*s",
                                  ngx_cms_policy_str(&rule->param.name),
                                  rule->param.negate ? "does not match"
                                                     : "matches",
                                  ngx_cms_policy_str(&rule->param.pattern));
        }

        return;

    case NGX_CMS_POLICY_CAP:
        ngx_cms_policy_cap(rule, req, res);
        return;

    case NGX_CMS_POLICY_REQUIRE:
        ngx_cms_policy_require(rule, req, exec, res);
        return;

    default:
        return;
    }
}


static int
ngx_cms_policy_applies(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req)
{
    int     in;
    size_t  i;

    if (rule->nops) {
        for (i = 0; i < rule->nops; i++) {
            if (ngx_cms_policy_op_match(&rule->ops[i], req)) {
                break;
            }
        }

        if (i == rule->nops) {
            return 0;
        }
    }

    if (rule->methods && !(rule->methods & req->method)) {
        return 0;
    }

    if (rule->nroles) {
        in = 0;

        for (i = 0; i < rule->nroles; i++) {
            if (rule->roles[i].len == req->role.len
                && ngx_cms_bytes_eq(rule->roles[i].data, req->role.data,
                                    req->role.len))
            {
                in = 1;
                break;
            }
        }

        if (in == (int) rule->roles_negated) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_cms_policy_find(const ngx_cms_policy_req_t *req,
    const ngx_cms_span_t *name, size_t *index)
{
    int     n;
    size_t  i;

    n = 0;
    *index = req->nparams;

    for (i = 0; i < req->nparams; i++) {
        if (req->params[i].name.len == name->len
            && ngx_cms_policy_caseeq(req->params[i].name.data, name->data,
                                     name->len))
        {
            if (n++ == 0) {
                *index = i;
            }
        }
    }

    return n;
}


static int
ngx_cms_policy_cond(const ngx_cms_policy_test_t *t,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec)
{
    int     n, ok;
    size_t  index;

    n = ngx_cms_policy_find(req, &t->name, &index);

    if (n > 1) {
        return NGX_CMS_POLICY_T_REPEATED;
    }

    if (n == 0) {
        ok = 0;

    } else if (t->pattern.len == 0) {
        ok = 1;

    } else {
        ok = exec(t->re, req->params[index].value.data,
                  req->params[index].value.len);

        if (ok < 0) {
            return NGX_CMS_POLICY_T_ERROR;
        }
    }

    return t->negate ? !ok : ok;
}


static int
ngx_cms_policy_value(const ngx_cms_policy_test_t *t,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    size_t *index)
{
    int  n, ok;

    n = ngx_cms_policy_find(req, &t->name, index);

    if (n > 1) {
        return NGX_CMS_POLICY_T_REPEATED;
    }

    if (n == 0) {
        return 0;
    }

    if (t->pattern.len == 0) {
        return 1;
    }

    ok = exec(t->re, req->params[*index].value.data,
              req->params[*index].value.len);

    if (ok < 0) {
        return NGX_CMS_POLICY_T_ERROR;
    }

    return t->negate ? !ok : ok;
}


static void
ngx_cms_policy_meetings(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_result_t *res)
{
    int                    all, n;
    size_t                 index;
    ngx_cms_span_t         name;
    const ngx_cms_span_t  *v;

    if (ngx_cms_policy_op_is(req, "coSpace.delete")) {
        res->outcome = NGX_CMS_POLICY_METER;
        res->meter = NGX_CMS_POLICY_CLOSE;
        goto answer;
    }

    if (ngx_cms_policy_op_is(req, "coSpace.deleteAll")) {
        res->outcome = NGX_CMS_POLICY_METER;
        res->meter = NGX_CMS_POLICY_CLOSE_ALL;
        goto answer;
    }

    if (ngx_cms_policy_op_is(req, "coSpace.modify")) {
        all = 0;

    } else if (ngx_cms_policy_op_is(req, "coSpace.modifyAll")) {
        all = 1;

    } else {
        return;
    }

    name.data = (const unsigned char *) "nonMemberAccess";
    name.len = sizeof("nonMemberAccess") - 1;

    n = ngx_cms_policy_find(req, &name, &index);

    if (n == 0) {
        return;
    }

    if (n > 1) {
        ngx_cms_policy_refuse_test(rule, &name, NGX_CMS_POLICY_T_REPEATED,
                                   res);
        return;
    }

    v = &req->params[index].value;

    if (v->len == 4 && ngx_cms_policy_caseeq(v->data,
                                            (const unsigned char *) "true", 4))
    {
        if (all) {
            ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                                  "opening every coSpace at once cannot be "
                                  "counted as scheduled meetings");
            return;
        }

        res->outcome = NGX_CMS_POLICY_METER;
        res->meter = NGX_CMS_POLICY_OPEN;
        goto answer;
    }

    if (v->len == 5
        && ngx_cms_policy_caseeq(v->data, (const unsigned char *) "false", 5))
    {
        res->outcome = NGX_CMS_POLICY_METER;
        res->meter = all ? NGX_CMS_POLICY_CLOSE_ALL : NGX_CMS_POLICY_CLOSE;
        goto answer;
    }

    /* a value the bridge may read as either cannot be counted */

    ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                          "nonMemberAccess must be true or false");
    return;

answer:

    /* for the caller, should the zone be full */

    res->status = rule->status ? rule->status : NGX_CMS_POLICY_PARAM_STATUS;

    if (rule->error.len) {
        res->error = rule->error;

    } else {
        res->error.data = (const unsigned char *) NGX_CMS_POLICY_PARAM_ERROR;
        res->error.len = sizeof(NGX_CMS_POLICY_PARAM_ERROR) - 1;
    }
}


static void
ngx_cms_policy_cap(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_result_t *res)
{
    int                    n;
    size_t                 index, i;
    long long              v, limit;
    const ngx_cms_span_t  *s;

    n = ngx_cms_policy_find(req, &rule->param.name, &index);

    if (n > 1) {
        ngx_cms_policy_refuse_test(rule, &rule->param.name,
                                   NGX_CMS_POLICY_T_REPEATED, res);
        return;
    }

    if (n == 0) {
        switch (rule->missing) {

        case NGX_CMS_POLICY_MISSING_DENY:
            ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                                  "%.*s is required",
                                  ngx_cms_policy_str(&rule->param.name));
            return;

        case NGX_CMS_POLICY_MISSING_SET:
            res->outcome = NGX_CMS_POLICY_SET;
            res->index = req->nparams;
            res->name = rule->param.name;
            res->value = rule->max >= 0 ? rule->max : rule->min;
            return;

        default:
            return;
        }
    }

    /*
     * Digits only: a sign, blanks or a fraction might be read by the
     * bridge in a way this cannot foresee, so they are refused, never
     * guessed at.
     */

    s = &req->params[index].value;
    v = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            break;
        }

        if (v <= NGX_CMS_POLICY_MAX_NUMBER) {
            v = v * 10 + (s->data[i] - '0');
        }
    }

    if (s->len == 0 || i < s->len) {
        ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is not a whole number",
                              ngx_cms_policy_str(&rule->param.name));
        return;
    }

    if (rule->max >= 0 && v > rule->max) {
        limit = rule->max;

    } else if (rule->min >= 0 && v < rule->min) {
        limit = rule->min;

    } else {
        return;
    }

    if (rule->clamp) {
        res->outcome = NGX_CMS_POLICY_SET;
        res->index = index;
        res->name = req->params[index].name;
        res->value = limit;
        return;
    }

    if (v > NGX_CMS_POLICY_MAX_NUMBER) {
        ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is over the maximum %lld",
                              ngx_cms_policy_str(&rule->param.name), limit);
        return;
    }

    ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                          "%.*s %lld is %s the %s %lld",
                          ngx_cms_policy_str(&rule->param.name), v,
                          v > limit ? "over" : "under",
                          v > limit ? "maximum" : "minimum", limit);
}


static void
ngx_cms_policy_require(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    ngx_cms_policy_result_t *res)
{
    int                    n, ok;
    size_t                 index;
    const ngx_cms_span_t  *name, *v;

    name = &rule->param.name;

    n = ngx_cms_policy_find(req, name, &index);

    if (n > 1) {
        ngx_cms_policy_refuse_test(rule, name, NGX_CMS_POLICY_T_REPEATED,
                                   res);
        return;
    }

    if (n == 0) {
        ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is required", ngx_cms_policy_str(name));
        return;
    }

    v = &req->params[index].value;

    if (rule->min_length >= 0 && (long long) v->len < rule->min_length) {
        ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is shorter than %lld characters",
                              ngx_cms_policy_str(name), rule->min_length);
        return;
    }

    if (rule->max_length >= 0 && (long long) v->len > rule->max_length) {
        ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is longer than %lld characters",
                              ngx_cms_policy_str(name), rule->max_length);
        return;
    }

    if (rule->param.pattern.len == 0) {
        return;
    }

    ok = exec(rule->param.re, v->data, v->len);

    if (ok < 0) {
        ngx_cms_policy_refuse_test(rule, name, NGX_CMS_POLICY_T_ERROR, res);
        return;
    }

    if (ok != (int) rule->param.negate) {
        return;
    }

    ngx_cms_policy_refuse(rule, res, NGX_CMS_POLICY_PARAM_STATUS,
                          "%.*s %s %.*s", ngx_cms_policy_str(name),
                          rule->param.negate ? "must not match"
                                             : "does not match",
                          ngx_cms_policy_str(&rule->param.pattern));
}


static void
ngx_cms_policy_refuse(const ngx_cms_policy_rule_t *rule,
    ngx_cms_policy_result_t *res, unsigned status, const char *fmt, ...)
{
    int      n;
    size_t   len;
    va_list  args;

    res->outcome = NGX_CMS_POLICY_REFUSE;
    res->status = rule->status ? rule->status : status;

    if (rule->error.len) {
        res->error = rule->error;

    } else if (res->status == NGX_CMS_POLICY_ROLE_STATUS) {
        res->error.data = (const unsigned char *) NGX_CMS_POLICY_ROLE_ERROR;
        res->error.len = sizeof(NGX_CMS_POLICY_ROLE_ERROR) - 1;

    } else {
        res->error.data = (const unsigned char *) NGX_CMS_POLICY_PARAM_ERROR;
        res->error.len = sizeof(NGX_CMS_POLICY_PARAM_ERROR) - 1;
    }

    n = snprintf(res->reason, NGX_CMS_POLICY_REASON_LEN, "policy rule %.*s: ",
                 ngx_cms_policy_str(&rule->name));

    len = (n < 0) ? 0 : (size_t) n;

    if (len >= NGX_CMS_POLICY_REASON_LEN) {
        len = NGX_CMS_POLICY_REASON_LEN - 1;
    }

    if (rule->reason.len) {
        n = snprintf(res->reason + len, NGX_CMS_POLICY_REASON_LEN - len,
                     "%.*s", ngx_cms_policy_str(&rule->reason));

    } else {
        va_start(args, fmt);
        n = vsnprintf(res->reason + len, NGX_CMS_POLICY_REASON_LEN - len, fmt,
                      args);
        va_end(args);
    }

    len += (n < 0) ? 0 : (size_t) n;

    res->reason_len = (len >= NGX_CMS_POLICY_REASON_LEN)
                      ? NGX_CMS_POLICY_REASON_LEN - 1 : len;
}


static void
ngx_cms_policy_refuse_test(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_span_t *name, int rc, ngx_cms_policy_result_t *res)
{
    ngx_cms_policy_rule_t  plain;

    /* the operator's status, error and reason are about another failure */

    plain = *rule;
    plain.status = 0;
    plain.error.len = 0;
    plain.reason.len = 0;

    if (rc == NGX_CMS_POLICY_T_REPEATED) {
        ngx_cms_policy_refuse(&plain, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s is given more than once",
                              ngx_cms_policy_str(name));

    } else {
        ngx_cms_policy_refuse(&plain, res, NGX_CMS_POLICY_PARAM_STATUS,
                              "%.*s could not be matched",
                              ngx_cms_policy_str(name));
    }
}


static int
ngx_cms_policy_caseeq(const unsigned char *a, const unsigned char *b,
    size_t len)
{
    size_t         i;
    unsigned char  x, y;

    /* clients send the canonical spelling rules are written in */

    if (ngx_cms_bytes_eq(a, b, len)) {
        return 1;
    }

    for (i = 0; i < len; i++) {
        x = a[i];
        y = b[i];

        if (x >= 'A' && x <= 'Z') {
            x |= 0x20;
        }

        if (y >= 'A' && y <= 'Z') {
            y |= 0x20;
        }

        if (x != y) {
            return 0;
        }
    }

    return 1;
}
