/*
 * ngx_cms policy: the rule language, parsed.
 *
 *   <name> <action> [op=..] [role=[!]..] [method=..] [if=..] [unless=..]
 *                   [param=<name> [~|!~|~*|!~* <regex>]] [options]
 *
 * Every word is checked here, at configuration time, so that a rule
 * nginx accepts means what it says: an unknown operation, action or
 * option, a bad regular expression or a number out of range is an error
 * naming the word.  README.md has the language.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_cms_policy_rule.h"


/* options, as bits: to catch repeats and options of the wrong action */

#define NGX_CMS_POLICY_O_OP        0x0001
#define NGX_CMS_POLICY_O_ROLE      0x0002
#define NGX_CMS_POLICY_O_METHOD    0x0004
#define NGX_CMS_POLICY_O_COND      0x0008
#define NGX_CMS_POLICY_O_PARAM     0x0010
#define NGX_CMS_POLICY_O_TEST      0x0020
#define NGX_CMS_POLICY_O_MINLEN    0x0040
#define NGX_CMS_POLICY_O_MAXLEN    0x0080
#define NGX_CMS_POLICY_O_MIN       0x0100
#define NGX_CMS_POLICY_O_MAX       0x0200
#define NGX_CMS_POLICY_O_MODE      0x0400
#define NGX_CMS_POLICY_O_MISSING   0x0800
#define NGX_CMS_POLICY_O_ZONE      0x1000
#define NGX_CMS_POLICY_O_STATUS    0x2000
#define NGX_CMS_POLICY_O_ERROR     0x4000
#define NGX_CMS_POLICY_O_REASON    0x8000

#define NGX_CMS_POLICY_O_WHEN                                                 \
    (NGX_CMS_POLICY_O_OP | NGX_CMS_POLICY_O_ROLE | NGX_CMS_POLICY_O_METHOD    \
     | NGX_CMS_POLICY_O_COND)

#define NGX_CMS_POLICY_O_ANSWER                                               \
    (NGX_CMS_POLICY_O_STATUS | NGX_CMS_POLICY_O_ERROR                         \
     | NGX_CMS_POLICY_O_REASON)

#define NGX_CMS_POLICY_NONE        -1LL


typedef struct {
    const char                *name;
    ngx_cms_policy_action_e    action;
    unsigned                   options;
} ngx_cms_policy_action_t;


static const ngx_cms_policy_action_t  ngx_cms_policy_actions[] = {

    { "allow", NGX_CMS_POLICY_ALLOW,
      NGX_CMS_POLICY_O_WHEN | NGX_CMS_POLICY_O_PARAM | NGX_CMS_POLICY_O_TEST },

    { "deny", NGX_CMS_POLICY_DENY,
      NGX_CMS_POLICY_O_WHEN | NGX_CMS_POLICY_O_PARAM | NGX_CMS_POLICY_O_TEST
      | NGX_CMS_POLICY_O_MODE | NGX_CMS_POLICY_O_ANSWER },

    { "cap", NGX_CMS_POLICY_CAP,
      NGX_CMS_POLICY_O_WHEN | NGX_CMS_POLICY_O_PARAM | NGX_CMS_POLICY_O_MIN
      | NGX_CMS_POLICY_O_MAX | NGX_CMS_POLICY_O_MODE
      | NGX_CMS_POLICY_O_MISSING | NGX_CMS_POLICY_O_ANSWER },

    { "require", NGX_CMS_POLICY_REQUIRE,
      NGX_CMS_POLICY_O_WHEN | NGX_CMS_POLICY_O_PARAM | NGX_CMS_POLICY_O_TEST
      | NGX_CMS_POLICY_O_MINLEN | NGX_CMS_POLICY_O_MAXLEN
      | NGX_CMS_POLICY_O_MODE | NGX_CMS_POLICY_O_ANSWER },

    { "meetings", NGX_CMS_POLICY_MEETINGS,
      NGX_CMS_POLICY_O_ZONE | NGX_CMS_POLICY_O_MAX
      | NGX_CMS_POLICY_O_MODE | NGX_CMS_POLICY_O_ANSWER },

    { NULL, 0, 0 }
};


typedef struct {
    const char  *name;       /* with the '=' */
    unsigned     option;
} ngx_cms_policy_option_t;


static const ngx_cms_policy_option_t  ngx_cms_policy_options[] = {
    { "op=", NGX_CMS_POLICY_O_OP },
    { "role=", NGX_CMS_POLICY_O_ROLE },
    { "method=", NGX_CMS_POLICY_O_METHOD },
    { "if=", NGX_CMS_POLICY_O_COND },
    { "unless=", NGX_CMS_POLICY_O_COND },
    { "param=", NGX_CMS_POLICY_O_PARAM },
    { "min_length=", NGX_CMS_POLICY_O_MINLEN },
    { "max_length=", NGX_CMS_POLICY_O_MAXLEN },
    { "min=", NGX_CMS_POLICY_O_MIN },
    { "max=", NGX_CMS_POLICY_O_MAX },
    { "mode=", NGX_CMS_POLICY_O_MODE },
    { "missing=", NGX_CMS_POLICY_O_MISSING },
    { "zone=", NGX_CMS_POLICY_O_ZONE },
    { "status=", NGX_CMS_POLICY_O_STATUS },
    { "error=", NGX_CMS_POLICY_O_ERROR },
    { "reason=", NGX_CMS_POLICY_O_REASON },
    { NULL, 0 }
};


static int ngx_cms_policy_parse_option(ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_option_t *o, const ngx_cms_span_t *v,
    ngx_cms_policy_compile_pt compile, void *data, char *err,
    size_t errlen);
static int ngx_cms_policy_parse_test(ngx_cms_policy_test_t *t,
    const ngx_cms_span_t *spec, int negate, ngx_cms_policy_compile_pt compile,
    void *data, char *err, size_t errlen);
static int ngx_cms_policy_parse_list(const ngx_cms_span_t *v,
    ngx_cms_span_t *items, size_t max, size_t *n);
static int ngx_cms_policy_parse_methods(const ngx_cms_span_t *v,
    unsigned *methods, char *err, size_t errlen);
static int ngx_cms_policy_parse_number(const ngx_cms_span_t *v,
    long long *n);
static int ngx_cms_policy_check_rule(const ngx_cms_policy_rule_t *rule,
    unsigned seen, char *err, size_t errlen);
static int ngx_cms_policy_span_is(const ngx_cms_span_t *s, const char *lit);
static int ngx_cms_policy_printable(const ngx_cms_span_t *s);


int
ngx_cms_policy_rule_parse(ngx_cms_policy_rule_t *rule,
    const ngx_cms_span_t *args, size_t nargs,
    ngx_cms_policy_compile_pt compile, void *data, char *err,
    size_t errlen)
{
    int                             negate, caseless;
    size_t                          i, n;
    unsigned                        seen;
    ngx_cms_span_t                  v;
    const ngx_cms_span_t           *a;
    const ngx_cms_policy_action_t  *act;
    const ngx_cms_policy_option_t  *o;

    memset(rule, 0, sizeof(ngx_cms_policy_rule_t));

    rule->min_length = NGX_CMS_POLICY_NONE;
    rule->max_length = NGX_CMS_POLICY_NONE;
    rule->min = NGX_CMS_POLICY_NONE;
    rule->max = NGX_CMS_POLICY_NONE;

    if (nargs < 2) {
        snprintf(err, errlen, "needs a name and an action");
        return -1;
    }

    if (!ngx_cms_policy_name_valid(&args[0])) {
        snprintf(err, errlen, "invalid rule name \"%.*s\" "
                 "(letters, digits, \"_\", \"-\", \".\")",
                 ngx_cms_policy_str(&args[0]));
        return -1;
    }

    rule->name = args[0];

    for (act = ngx_cms_policy_actions; act->name; act++) {
        if (ngx_cms_policy_span_is(&args[1], act->name)) {
            break;
        }
    }

    if (act->name == NULL) {
        snprintf(err, errlen, "rule \"%.*s\": unknown action \"%.*s\" "
                 "(allow, deny, cap, require, meetings)",
                 ngx_cms_policy_str(&args[0]), ngx_cms_policy_str(&args[1]));
        return -1;
    }

    rule->action = act->action;
    seen = 0;

    for (i = 2; i < nargs; i++) {
        a = &args[i];

        if (ngx_cms_policy_span_is(a, "~")
            || ngx_cms_policy_span_is(a, "!~")
            || ngx_cms_policy_span_is(a, "~*")
            || ngx_cms_policy_span_is(a, "!~*"))
        {
            if (!(seen & NGX_CMS_POLICY_O_PARAM)
                || (seen & NGX_CMS_POLICY_O_TEST))
            {
                snprintf(err, errlen, "rule \"%.*s\": \"%.*s\" must "
                         "come after \"param=<name>\", once",
                         ngx_cms_policy_str(&rule->name),
                         ngx_cms_policy_str(a));
                return -1;
            }

            if (!(act->options & NGX_CMS_POLICY_O_TEST)) {
                snprintf(err, errlen, "rule \"%.*s\": \"%.*s\" is not "
                         "an option of \"%s\"",
                         ngx_cms_policy_str(&rule->name),
                         ngx_cms_policy_str(a), act->name);
                return -1;
            }

            if (i + 1 == nargs) {
                snprintf(err, errlen, "rule \"%.*s\": \"%.*s\" needs a "
                         "regular expression after it",
                         ngx_cms_policy_str(&rule->name),
                         ngx_cms_policy_str(a));
                return -1;
            }

            negate = (a->data[0] == '!');
            caseless = (a->data[a->len - 1] == '*');

            i++;
            a = &args[i];

            if (a->len == 0) {
                snprintf(err, errlen, "rule \"%.*s\": empty regular "
                         "expression", ngx_cms_policy_str(&rule->name));
                return -1;
            }

            rule->param.pattern = *a;
            rule->param.negate = negate;
            rule->param.caseless = caseless;
            rule->param.re = compile(data, a, caseless, err, errlen);

            if (rule->param.re == NULL) {
                /* the callback's message names the pattern */
                return -1;
            }

            seen |= NGX_CMS_POLICY_O_TEST;
            continue;
        }

        for (o = ngx_cms_policy_options; o->name; o++) {
            n = strlen(o->name);

            if (a->len >= n && memcmp(a->data, o->name, n) == 0) {
                break;
            }
        }

        if (o->name == NULL) {
            snprintf(err, errlen, "rule \"%.*s\": unknown option \"%.*s\"",
                     ngx_cms_policy_str(&rule->name), ngx_cms_policy_str(a));
            return -1;
        }

        if (!(act->options & o->option)) {
            snprintf(err, errlen, "rule \"%.*s\": \"%s\" is not an option "
                     "of \"%s\"", ngx_cms_policy_str(&rule->name), o->name,
                     act->name);
            return -1;
        }

        if ((seen & o->option) && o->option != NGX_CMS_POLICY_O_COND) {
            snprintf(err, errlen, "rule \"%.*s\": \"%s\" is given twice",
                     ngx_cms_policy_str(&rule->name), o->name);
            return -1;
        }

        seen |= o->option;

        v.data = a->data + n;
        v.len = a->len - n;

        if (ngx_cms_policy_parse_option(rule, o, &v, compile, data, err,
                                        errlen)
            != 0)
        {
            return -1;
        }
    }

    return ngx_cms_policy_check_rule(rule, seen, err, errlen);
}


static int
ngx_cms_policy_parse_option(ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_option_t *o, const ngx_cms_span_t *v,
    ngx_cms_policy_compile_pt compile, void *data, char *err,
    size_t errlen)
{
    size_t           i;
    long long        num;
    ngx_cms_span_t   list;

    switch (o->option) {

    case NGX_CMS_POLICY_O_OP:
        if (ngx_cms_policy_parse_list(v, rule->ops, NGX_CMS_POLICY_MAX_OPS,
                                      &rule->nops)
            != 0)
        {
            snprintf(err, errlen, "rule \"%.*s\": bad list \"op=%.*s\" "
                     "(empty item, or more than %d)",
                     ngx_cms_policy_str(&rule->name), ngx_cms_policy_str(v),
                     NGX_CMS_POLICY_MAX_OPS);
            return -1;
        }

        for (i = 0; i < rule->nops; i++) {
            if (!ngx_cms_api_operation_valid(rule->ops[i].data,
                                             rule->ops[i].len))
            {
                snprintf(err, errlen, "rule \"%.*s\": unknown operation "
                         "\"%.*s\"", ngx_cms_policy_str(&rule->name),
                         ngx_cms_policy_str(&rule->ops[i]));
                return -1;
            }
        }

        return 0;

    case NGX_CMS_POLICY_O_ROLE:
        list = *v;

        if (list.len && list.data[0] == '!') {
            rule->roles_negated = 1;
            list.data++;
            list.len--;
        }

        if (ngx_cms_policy_parse_list(&list, rule->roles,
                                      NGX_CMS_POLICY_MAX_ROLES, &rule->nroles)
            != 0)
        {
            snprintf(err, errlen, "rule \"%.*s\": bad list \"role=%.*s\" "
                     "(empty item, or more than %d)",
                     ngx_cms_policy_str(&rule->name), ngx_cms_policy_str(v),
                     NGX_CMS_POLICY_MAX_ROLES);
            return -1;
        }

        return 0;

    case NGX_CMS_POLICY_O_METHOD:
        return ngx_cms_policy_parse_methods(v, &rule->methods, err, errlen);

    case NGX_CMS_POLICY_O_COND:
        if (rule->nconds == NGX_CMS_POLICY_MAX_CONDS) {
            snprintf(err, errlen, "rule \"%.*s\": more than %d \"if=\" and "
                     "\"unless=\"", ngx_cms_policy_str(&rule->name),
                     NGX_CMS_POLICY_MAX_CONDS);
            return -1;
        }

        if (ngx_cms_policy_parse_test(&rule->conds[rule->nconds], v,
                                      o->name[0] == 'u', compile, data, err,
                                      errlen)
            != 0)
        {
            return -1;
        }

        rule->nconds++;
        return 0;

    case NGX_CMS_POLICY_O_PARAM:
        if (!ngx_cms_policy_name_valid(v)) {
            snprintf(err, errlen, "rule \"%.*s\": invalid parameter name "
                     "\"%.*s\"", ngx_cms_policy_str(&rule->name),
                     ngx_cms_policy_str(v));
            return -1;
        }

        rule->param.name = *v;
        rule->has_param = 1;
        return 0;

    case NGX_CMS_POLICY_O_MODE:
        /* what the rule does when it objects: refuse, rewrite, or only
         * report what it would have refused (the call goes on) */

        if (ngx_cms_policy_span_is(v, "clamp")
            && rule->action == NGX_CMS_POLICY_CAP)
        {
            rule->clamp = 1;
            return 0;
        }

        if (ngx_cms_policy_span_is(v, "deny")) {
            rule->clamp = 0;
            return 0;
        }

        if (ngx_cms_policy_span_is(v, "report")) {
            rule->report = 1;
            return 0;
        }

        snprintf(err, errlen, "rule \"%.*s\": invalid \"mode=%.*s\" "
                 "(%s)", ngx_cms_policy_str(&rule->name),
                 ngx_cms_policy_str(v),
                 rule->action == NGX_CMS_POLICY_CAP
                 ? "deny, clamp or report" : "deny or report");
        return -1;

    case NGX_CMS_POLICY_O_MISSING:
        if (ngx_cms_policy_span_is(v, "pass")) {
            rule->missing = NGX_CMS_POLICY_MISSING_PASS;
            return 0;
        }

        if (ngx_cms_policy_span_is(v, "deny")) {
            rule->missing = NGX_CMS_POLICY_MISSING_DENY;
            return 0;
        }

        if (ngx_cms_policy_span_is(v, "set")) {
            rule->missing = NGX_CMS_POLICY_MISSING_SET;
            return 0;
        }

        snprintf(err, errlen, "rule \"%.*s\": invalid \"missing=%.*s\" "
                 "(pass, deny or set)", ngx_cms_policy_str(&rule->name),
                 ngx_cms_policy_str(v));
        return -1;

    case NGX_CMS_POLICY_O_ZONE:
        if (!ngx_cms_policy_name_valid(v)) {
            snprintf(err, errlen, "rule \"%.*s\": invalid zone name "
                     "\"%.*s\"", ngx_cms_policy_str(&rule->name),
                     ngx_cms_policy_str(v));
            return -1;
        }

        rule->zone = *v;
        return 0;

    case NGX_CMS_POLICY_O_ERROR:
        for (i = 0; i < v->len; i++) {
            if (!((v->data[i] >= 'a' && v->data[i] <= 'z')
                  || (v->data[i] >= 'A' && v->data[i] <= 'Z')
                  || (i > 0 && v->data[i] >= '0' && v->data[i] <= '9')))
            {
                break;
            }
        }

        if (v->len == 0 || v->len > 64 || i < v->len) {
            snprintf(err, errlen, "rule \"%.*s\": invalid \"error=%.*s\" "
                     "(a failureDetails element name such as "
                     "passcodeTooShort)", ngx_cms_policy_str(&rule->name),
                     ngx_cms_policy_str(v));
            return -1;
        }

        rule->error = *v;
        return 0;

    case NGX_CMS_POLICY_O_REASON:
        if (v->len == 0 || v->len >= NGX_CMS_POLICY_REASON_LEN
            || !ngx_cms_policy_printable(v))
        {
            snprintf(err, errlen, "rule \"%.*s\": invalid \"reason=\" "
                     "(printable ASCII, 1 to %d characters)",
                     ngx_cms_policy_str(&rule->name),
                     NGX_CMS_POLICY_REASON_LEN - 1);
            return -1;
        }

        rule->reason = *v;
        return 0;
    }

    /* the numbers */

    if (ngx_cms_policy_parse_number(v, &num) != 0) {
        snprintf(err, errlen, "rule \"%.*s\": invalid \"%s%.*s\" "
                 "(a whole number)", ngx_cms_policy_str(&rule->name),
                 o->name, ngx_cms_policy_str(v));
        return -1;
    }

    switch (o->option) {

    case NGX_CMS_POLICY_O_MINLEN:
        rule->min_length = num;
        break;

    case NGX_CMS_POLICY_O_MAXLEN:
        rule->max_length = num;
        break;

    case NGX_CMS_POLICY_O_MIN:
        rule->min = num;
        break;

    case NGX_CMS_POLICY_O_MAX:
        rule->max = num;
        break;

    default: /* NGX_CMS_POLICY_O_STATUS */
        if (num < 400 || num > 499) {
            snprintf(err, errlen, "rule \"%.*s\": invalid \"status=%.*s\" "
                     "(400 to 499)", ngx_cms_policy_str(&rule->name),
                     ngx_cms_policy_str(v));
            return -1;
        }

        rule->status = (unsigned) num;
        break;
    }

    return 0;
}


static int
ngx_cms_policy_parse_test(ngx_cms_policy_test_t *t, const ngx_cms_span_t *spec,
    int negate, ngx_cms_policy_compile_pt compile, void *data, char *err,
    size_t errlen)
{
    const unsigned char  *colon;

    memset(t, 0, sizeof(ngx_cms_policy_test_t));

    t->negate = negate;
    t->name = *spec;

    colon = spec->len ? memchr(spec->data, ':', spec->len) : NULL;

    if (colon) {
        t->name.len = colon - spec->data;
        t->pattern.data = colon + 1;
        t->pattern.len = spec->len - t->name.len - 1;
    }

    if (!ngx_cms_policy_name_valid(&t->name)) {
        snprintf(err, errlen, "invalid parameter name \"%.*s\" in "
                 "\"%s%.*s\"", ngx_cms_policy_str(&t->name),
                 negate ? "unless=" : "if=", ngx_cms_policy_str(spec));
        return -1;
    }

    if (colon == NULL) {
        return 0;
    }

    if (t->pattern.len == 0) {
        snprintf(err, errlen, "empty regular expression in \"%s%.*s\"",
                 negate ? "unless=" : "if=", ngx_cms_policy_str(spec));
        return -1;
    }

    t->re = compile(data, &t->pattern, 0, err, errlen);

    return t->re ? 0 : -1;
}


static int
ngx_cms_policy_parse_list(const ngx_cms_span_t *v, ngx_cms_span_t *items,
    size_t max, size_t *n)
{
    const unsigned char  *p, *end, *comma;

    p = v->data;
    end = v->data + v->len;

    for ( ;; ) {
        comma = memchr(p, ',', end - p);

        if (comma == NULL) {
            comma = end;
        }

        if (comma == p || *n == max) {
            return -1;
        }

        items[*n].data = p;
        items[*n].len = comma - p;
        (*n)++;

        if (comma == end) {
            return 0;
        }

        p = comma + 1;
    }
}


static int
ngx_cms_policy_parse_methods(const ngx_cms_span_t *v, unsigned *methods,
    char *err, size_t errlen)
{
    size_t          i, n;
    unsigned        m;
    ngx_cms_span_t  items[8];

    n = 0;

    if (ngx_cms_policy_parse_list(v, items, 8, &n) != 0) {
        snprintf(err, errlen, "bad list \"method=%.*s\"",
                 ngx_cms_policy_str(v));
        return -1;
    }

    for (i = 0; i < n; i++) {
        m = ngx_cms_policy_method(items[i].data, items[i].len);

        if (m == 0) {
            snprintf(err, errlen, "unknown method \"%.*s\" "
                     "(GET, HEAD, POST, PUT, DELETE)",
                     ngx_cms_policy_str(&items[i]));
            return -1;
        }

        *methods |= m;
    }

    return 0;
}


static int
ngx_cms_policy_parse_number(const ngx_cms_span_t *v, long long *n)
{
    size_t  i;

    if (v->len == 0 || v->len > 16) {
        return -1;
    }

    *n = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return -1;
        }

        *n = *n * 10 + (v->data[i] - '0');
    }

    return *n > NGX_CMS_POLICY_MAX_NUMBER ? -1 : 0;
}


static int
ngx_cms_policy_check_rule(const ngx_cms_policy_rule_t *rule, unsigned seen,
    char *err, size_t errlen)
{
    const char  *what;

    what = NULL;

    switch (rule->action) {

    case NGX_CMS_POLICY_ALLOW:
    case NGX_CMS_POLICY_DENY:
        return 0;

    case NGX_CMS_POLICY_CAP:
        if (!rule->has_param) {
            what = "\"cap\" needs \"param=\"";

        } else if (rule->min < 0 && rule->max < 0) {
            what = "\"cap\" needs \"max=\" or \"min=\"";

        } else if (rule->min >= 0 && rule->max >= 0 && rule->min > rule->max) {
            what = "\"min=\" is above \"max=\"";
        }

        break;

    case NGX_CMS_POLICY_REQUIRE:
        if (!rule->has_param) {
            what = "\"require\" needs \"param=\"";

        } else if (rule->min_length >= 0 && rule->max_length >= 0
                   && rule->min_length > rule->max_length)
        {
            what = "\"min_length=\" is above \"max_length=\"";
        }

        break;

    case NGX_CMS_POLICY_MEETINGS:
        if (!(seen & NGX_CMS_POLICY_O_ZONE)) {
            what = "\"meetings\" needs \"zone=\"";

        } else if (rule->max < 0) {
            what = "\"meetings\" needs \"max=\"";
        }

        break;
    }

    if (what) {
        snprintf(err, errlen, "rule \"%.*s\": %s",
                 ngx_cms_policy_str(&rule->name), what);
        return -1;
    }

    return 0;
}


int
ngx_cms_policy_grant_parse(ngx_cms_policy_grant_t *grant,
    const ngx_cms_span_t *role, const ngx_cms_span_t *arg, char *err,
    size_t errlen)
{
    ngx_cms_span_t  v;

    memset(grant, 0, sizeof(ngx_cms_policy_grant_t));

    grant->role = *role;

    if (arg->len > 7 && memcmp(arg->data, "method=", 7) == 0) {
        v.data = arg->data + 7;
        v.len = arg->len - 7;

        return ngx_cms_policy_parse_methods(&v, &grant->methods, err, errlen);
    }

    if (!ngx_cms_api_operation_valid(arg->data, arg->len)) {
        snprintf(err, errlen, "unknown operation \"%.*s\"",
                 ngx_cms_policy_str(arg));
        return -1;
    }

    grant->pattern = *arg;

    return 0;
}


int
ngx_cms_policy_name_valid(const ngx_cms_span_t *name)
{
    size_t         i;
    unsigned char  c;

    if (name->len == 0 || name->len > 64) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


unsigned
ngx_cms_policy_method(const unsigned char *name, size_t len)
{
    ngx_cms_span_t  s;

    s.data = name;
    s.len = len;

    if (ngx_cms_policy_span_is(&s, "GET")) {
        return NGX_CMS_POLICY_GET | NGX_CMS_POLICY_HEAD;
    }

    if (ngx_cms_policy_span_is(&s, "HEAD")) {
        return NGX_CMS_POLICY_HEAD;
    }

    if (ngx_cms_policy_span_is(&s, "POST")) {
        return NGX_CMS_POLICY_POST;
    }

    if (ngx_cms_policy_span_is(&s, "PUT")) {
        return NGX_CMS_POLICY_PUT;
    }

    if (ngx_cms_policy_span_is(&s, "DELETE")) {
        return NGX_CMS_POLICY_DELETE;
    }

    return 0;
}


static int
ngx_cms_policy_span_is(const ngx_cms_span_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len == n && (n == 0 || memcmp(s->data, lit, n) == 0);
}


static int
ngx_cms_policy_printable(const ngx_cms_span_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
