/*
 * Unit tests for ngx_cms_policy_parse.c and ngx_cms_policy_match.c: the
 * rule language, without nginx.  Regular expressions go straight to
 * PCRE2, as nginx's API would.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH  8
#include <pcre2.h>

#include "ngx_cms_policy_rule.h"


#define MAX_ARGS    32
#define MAX_PARAMS  16
#define MAX_RES     16


static pcre2_code  *compiled[64];
static size_t       ncompiled;
static int          exec_fails;


static void *
compile(void *data, const ngx_cms_span_t *pattern, int caseless, char *err,
    size_t errlen)
{
    int           rc;
    PCRE2_SIZE    off;
    pcre2_code   *re;
    PCRE2_UCHAR   msg[128];

    (void) data;

    re = pcre2_compile(pattern->data, pattern->len,
                       caseless ? PCRE2_CASELESS : 0, &rc, &off, NULL);

    if (re == NULL) {
        pcre2_get_error_message(rc, msg, sizeof(msg));
        snprintf(err, errlen, "bad regular expression \"%.*s\": %s",
                 (int) pattern->len, (const char *) pattern->data,
                 (char *) msg);
        return NULL;
    }

    assert_true(ncompiled < 64);
    compiled[ncompiled++] = re;

    return re;
}


static int
exec(void *re, const unsigned char *s, size_t len)
{
    int                 rc;
    pcre2_match_data   *md;

    if (exec_fails) {
        return -2;
    }

    md = pcre2_match_data_create(1, NULL);
    rc = pcre2_match(re, s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);

    if (rc >= 0) {
        return 1;
    }

    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}


/* a rule from one line of words, as nginx would tokenize it */

typedef struct {
    char                   buf[1024];
    ngx_cms_span_t         args[MAX_ARGS];
    size_t                 nargs;
    ngx_cms_policy_rule_t  rule;
    char                   err[NGX_CMS_POLICY_ERR_LEN];
} parsed_t;


static int
parse(parsed_t *p, const char *line)
{
    char  *w;

    memset(p, 0, sizeof(parsed_t));
    snprintf(p->buf, sizeof(p->buf), "%s", line);

    for (w = strtok(p->buf, " "); w; w = strtok(NULL, " ")) {
        assert_true(p->nargs < MAX_ARGS);
        p->args[p->nargs].data = (unsigned char *) w;
        p->args[p->nargs].len = strlen(w);
        p->nargs++;
    }

    return ngx_cms_policy_rule_parse(&p->rule, p->args, p->nargs, compile,
                                     NULL, p->err, sizeof(p->err));
}


/* a request: "name=value" pairs, already decoded */

typedef struct {
    char                    buf[1024];
    ngx_cms_policy_param_t  params[MAX_PARAMS];
    ngx_cms_policy_req_t    req;
} request_t;


static ngx_cms_policy_req_t *
request(request_t *q, const char *op, unsigned method, const char *role,
    const char *body)
{
    char  *w, *eq;

    memset(q, 0, sizeof(request_t));
    snprintf(q->buf, sizeof(q->buf), "%s", body ? body : "");

    for (w = strtok(q->buf, "&"); w; w = strtok(NULL, "&")) {
        assert_true(q->req.nparams < MAX_PARAMS);
        eq = strchr(w, '=');
        assert_non_null(eq);
        *eq = '\0';

        q->params[q->req.nparams].name.data = (unsigned char *) w;
        q->params[q->req.nparams].name.len = strlen(w);
        q->params[q->req.nparams].value.data = (unsigned char *) eq + 1;
        q->params[q->req.nparams].value.len = strlen(eq + 1);
        q->req.nparams++;
    }

    q->req.params = q->params;
    q->req.operation = op;
    q->req.operation_len = op ? strlen(op) : 0;
    q->req.method = method;
    q->req.role.data = (const unsigned char *) role;
    q->req.role.len = strlen(role);

    return &q->req;
}


static ngx_cms_policy_outcome_e
check(parsed_t *p, request_t *q, ngx_cms_policy_result_t *res)
{
    ngx_cms_policy_rule_check(&p->rule, &q->req, exec, res);
    return res->outcome;
}


static void
assert_span(ngx_cms_span_t s, const char *expected)
{
    assert_int_equal(s.len, strlen(expected));
    assert_memory_equal(s.data, expected, s.len);
}


static void
assert_refused(ngx_cms_policy_result_t *res, unsigned status,
    const char *error, const char *reason)
{
    assert_int_equal(res->outcome, NGX_CMS_POLICY_REFUSE);
    assert_int_equal(res->status, status);
    assert_span(res->error, error);
    assert_int_equal(res->reason_len, strlen(reason));
    assert_string_equal(res->reason, reason);
}


static void
assert_parse_error(const char *line, const char *message)
{
    parsed_t  p;

    assert_int_equal(parse(&p, line), -1);

    if (strstr(p.err, message) == NULL) {
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", line, p.err, message);
    }
}


/* parsing */

static void
test_parse_errors(void **state)
{
    (void) state;

    assert_parse_error("r1", "needs a name and an action");
    assert_parse_error("r/1 deny", "invalid rule name \"r/1\"");
    assert_parse_error("r1 permit", "unknown action \"permit\"");
    assert_parse_error("r1 deny op=coSpace.modfy",
                       "rule \"r1\": unknown operation \"coSpace.modfy\"");
    assert_parse_error("r1 deny op=coSpace.get,,call.list",
                       "bad list \"op=coSpace.get,,call.list\"");
    assert_parse_error("r1 deny op=co*.get", "unknown operation \"co*.get\"");
    assert_parse_error("r1 deny colour=red", "unknown option \"colour=red\"");
    assert_parse_error("r1 deny op=call.list op=call.get",
                       "\"op=\" is given twice");
    assert_parse_error("r1 deny ~ x", "\"~\" must come after \"param=<name>\"");
    assert_parse_error("r1 deny param=a ~ x !~ y",
                       "\"!~\" must come after \"param=<name>\", once");
    assert_parse_error("r1 deny param=a ~", "needs a regular expression");
    assert_parse_error("r1 deny param=a ~ (x",
                       "bad regular expression \"(x\"");
    assert_parse_error("r1 deny if=a:[z-a]",
                       "bad regular expression \"[z-a]\"");
    assert_parse_error("r1 deny if=a:", "empty regular expression");
    assert_parse_error("r1 deny if=a/b", "invalid parameter name \"a/b\"");
    assert_parse_error("r1 deny param=", "invalid parameter name \"\"");
    assert_parse_error("r1 deny method=GET,FETCH", "unknown method \"FETCH\"");
    assert_parse_error("r1 deny role=a,,b", "bad list \"role=a,,b\"");
    assert_parse_error("r1 deny status=302", "invalid \"status=302\"");
    assert_parse_error("r1 deny status=4x0", "invalid \"status=4x0\"");
    assert_parse_error("r1 deny error=9lives", "invalid \"error=9lives\"");
    assert_parse_error("r1 deny error=a\"b", "invalid \"error=a\"b\"");
    assert_parse_error("r1 deny param=a min_length=3",
                       "\"min_length=\" is not an option of \"deny\"");
    assert_parse_error("r1 allow status=403",
                       "\"status=\" is not an option of \"allow\"");
    assert_parse_error("r1 cap param=a ~ x",
                       "\"~\" is not an option of \"cap\"");
    assert_parse_error("r1 cap max=3", "\"cap\" needs \"param=\"");
    assert_parse_error("r1 cap param=a", "needs \"max=\" or \"min=\"");
    assert_parse_error("r1 cap param=a min=5 max=3",
                       "\"min=\" is above \"max=\"");
    assert_parse_error("r1 cap param=a max=-3", "invalid \"max=-3\"");
    assert_parse_error("r1 cap param=a max=99999999999999999",
                       "invalid \"max=99999999999999999\"");
    assert_parse_error("r1 cap param=a max=3 mode=squash",
                       "invalid \"mode=squash\"");
    assert_parse_error("r1 cap param=a max=3 mode=squash",
                       "(deny, clamp or report)");
    assert_parse_error("r1 deny op=call.list mode=clamp",
                       "invalid \"mode=clamp\" (deny or report)");
    assert_parse_error("r1 allow op=call.list mode=report",
                       "\"mode=\" is not an option of \"allow\"");
    assert_parse_error("r1 deny mode=report mode=deny",
                       "\"mode=\" is given twice");
    assert_parse_error("r1 cap param=a max=3 missing=maybe",
                       "invalid \"missing=maybe\"");
    assert_parse_error("r1 require min_length=3", "needs \"param=\"");
    assert_parse_error("r1 require param=a min_length=5 max_length=3",
                       "\"min_length=\" is above \"max_length=\"");
    assert_parse_error("r1 meetings max=3", "needs \"zone=\"");
    assert_parse_error("r1 meetings zone=z", "needs \"max=\"");
    assert_parse_error("r1 meetings zone=z max=3 op=coSpace.modify",
                       "\"op=\" is not an option of \"meetings\"");
    assert_parse_error("r1 deny if=a if=b if=c if=d if=e if=f if=g if=h "
                       "if=i", "more than 8");
}


static void
test_parse_ok(void **state)
{
    parsed_t  p;

    (void) state;

    assert_int_equal(parse(&p, "dial-out deny op=callLeg.create,"
                     "participant.create role=!admin,ops method=POST "
                     "if=a unless=b:^x$ param=remoteParty !~* ^[^@]+@v\\.com$ "
                     "status=409 error=notAllowed reason=no"), 0);

    assert_span(p.rule.name, "dial-out");
    assert_int_equal(p.rule.action, NGX_CMS_POLICY_DENY);
    assert_int_equal(p.rule.nops, 2);
    assert_span(p.rule.ops[1], "participant.create");
    assert_int_equal(p.rule.nroles, 2);
    assert_true(p.rule.roles_negated);
    assert_span(p.rule.roles[1], "ops");
    assert_int_equal(p.rule.methods, NGX_CMS_POLICY_POST);
    assert_int_equal(p.rule.nconds, 2);
    assert_false(p.rule.conds[0].negate);
    assert_int_equal(p.rule.conds[0].pattern.len, 0);
    assert_true(p.rule.conds[1].negate);
    assert_span(p.rule.conds[1].pattern, "^x$");
    assert_span(p.rule.param.name, "remoteParty");
    assert_true(p.rule.param.negate);
    assert_true(p.rule.param.caseless);
    assert_int_equal(p.rule.status, 409);
    assert_span(p.rule.error, "notAllowed");
    assert_span(p.rule.reason, "no");

    assert_int_equal(parse(&p, "c cap param=n min=1 max=9 mode=clamp "
                     "missing=set"), 0);
    assert_int_equal(p.rule.min, 1);
    assert_int_equal(p.rule.max, 9);
    assert_true(p.rule.clamp);
    assert_int_equal(p.rule.missing, NGX_CMS_POLICY_MISSING_SET);

    assert_false(p.rule.report);

    /* report only: for every action that refuses */
    assert_int_equal(parse(&p, "r deny op=coSpace.delete mode=report"), 0);
    assert_true(p.rule.report);
    assert_int_equal(parse(&p, "r require param=passcode min_length=6 "
                     "mode=report"), 0);
    assert_true(p.rule.report);
    assert_int_equal(parse(&p, "r cap param=n max=9 mode=report"), 0);
    assert_true(p.rule.report);
    assert_false(p.rule.clamp);
    assert_int_equal(parse(&p, "r meetings zone=z max=2 mode=report"), 0);
    assert_true(p.rule.report);

    assert_int_equal(parse(&p, "m meetings zone=slots max=0"), 0);
    assert_span(p.rule.zone, "slots");
    assert_int_equal(p.rule.max, 0);

    /* "GET" includes HEAD, as in nginx's limit_except */
    assert_int_equal(parse(&p, "g allow method=GET"), 0);
    assert_int_equal(p.rule.methods,
                     NGX_CMS_POLICY_GET | NGX_CMS_POLICY_HEAD);
}


/* matching */

static void
test_conditions(void **state)
{
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    assert_int_equal(parse(&p, "r allow op=coSpace.* role=scheduler "
                     "method=GET,PUT"), 0);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "scheduler", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_PERMIT);

    request(&q, "coSpace.get", NGX_CMS_POLICY_HEAD, "scheduler", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_PERMIT);

    request(&q, "coSpace.delete", NGX_CMS_POLICY_DELETE, "scheduler", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpaceUser.list", NGX_CMS_POLICY_GET, "scheduler", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "Scheduler", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    /* role=! matches every other role, and no role at all */

    assert_int_equal(parse(&p, "moves deny op=participant.move "
                     "role=!mover,cmm"), 0);

    request(&q, "participant.move", NGX_CMS_POLICY_POST, "mover", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "participant.move", NGX_CMS_POLICY_POST, "", NULL);
    check(&p, &q, &res);
    assert_refused(&res, 403, "invalidOperation",
                   "policy rule moves: participant.move is not allowed for "
                   "role \"\"");

    request(&q, "participant.move", NGX_CMS_POLICY_POST, "scheduler", NULL);
    check(&p, &q, &res);
    assert_refused(&res, 403, "invalidOperation",
                   "policy rule moves: participant.move is not allowed for "
                   "role \"scheduler\"");

    /* if= and unless=, names in any case */

    assert_int_equal(parse(&p, "r deny if=nonMemberAccess:^true$ "
                     "unless=secret"), 0);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "NONMEMBERACCESS=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule r: coSpace.modify is not allowed");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&Secret=x");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=false");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    /* a repeated parameter cannot be judged, whatever the rule */

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=false&nonmemberaccess=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule r: nonMemberAccess is given more than once");

    /* and neither can a value the regex engine fails on */

    exec_fails = 1;
    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule r: nonMemberAccess could not be matched");
    exec_fails = 0;
}


static void
test_deny_param(void **state)
{
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    assert_int_equal(parse(&p, "dial-out deny op=callLeg.create "
                     "param=remoteParty !~ ^[^@]+@video\\.example\\.com$ "
                     "error=dialOutRefused"), 0);

    request(&q, "callLeg.create", NGX_CMS_POLICY_POST, "",
            "remoteParty=alice@video.example.com");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "callLeg.create", NGX_CMS_POLICY_POST, "",
            "remoteParty=alice@video.example.com.evil");
    check(&p, &q, &res);
    assert_refused(&res, 400, "dialOutRefused",
                   "policy rule dial-out: remoteParty does not match "
                   "^[^@]+@video\\.example\\.com$");

    /* absent: neither ~ nor !~ holds */
    request(&q, "callLeg.create", NGX_CMS_POLICY_POST, "", "bandwidth=1");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    /* repeated: the operator's error is about something else */
    request(&q, "callLeg.create", NGX_CMS_POLICY_POST, "",
            "remoteParty=a@video.example.com&RemoteParty=b@evil");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule dial-out: remoteParty is given more than "
                   "once");

    /* ~* is caseless */
    assert_int_equal(parse(&p, "r deny param=name ~* ^tms_"), 0);
    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "name=TMS_Scheduled_Meeting_1");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule r: name matches ^tms_");

    /* presence only */
    assert_int_equal(parse(&p, "r deny param=secret status=403 "
                     "reason=secrets_are_ours"), 0);
    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "", "secret=");
    check(&p, &q, &res);
    assert_refused(&res, 403, "invalidOperation",
                   "policy rule r: secrets_are_ours");
}


static void
test_cap(void **state)
{
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    assert_int_equal(parse(&p, "limit cap op=callProfile.* "
                     "param=participantLimit max=200 mode=clamp"), 0);

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "participantLimit=1000&messageBoardEnabled=false");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SET);
    assert_int_equal(res.index, 0);
    assert_int_equal(res.value, 200);
    assert_span(res.name, "participantLimit");

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "locked=false&PARTICIPANTLIMIT=99999999999999999999999");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SET);
    assert_int_equal(res.index, 1);
    assert_int_equal(res.value, 200);
    assert_span(res.name, "PARTICIPANTLIMIT");

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "participantLimit=200");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "", "locked=true");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    /* no clamping of what cannot be read as a number */

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "participantLimit= 1000");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule limit: participantLimit is not a whole "
                   "number");

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "participantLimit=");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_REFUSE);

    /* deny, with a floor, and the parameter insisted on */

    assert_int_equal(parse(&p, "limit cap param=participantLimit min=2 "
                     "max=200 missing=deny error=participantLimitReached"),
                     0);

    request(&q, "callProfile.modify", NGX_CMS_POLICY_PUT, "",
            "participantLimit=201");
    check(&p, &q, &res);
    assert_refused(&res, 400, "participantLimitReached",
                   "policy rule limit: participantLimit 201 is over the "
                   "maximum 200");

    request(&q, "callProfile.modify", NGX_CMS_POLICY_PUT, "",
            "participantLimit=1");
    check(&p, &q, &res);
    assert_refused(&res, 400, "participantLimitReached",
                   "policy rule limit: participantLimit 1 is under the "
                   "minimum 2");

    request(&q, "callProfile.modify", NGX_CMS_POLICY_PUT, "", "locked=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "participantLimitReached",
                   "policy rule limit: participantLimit is required");

    /* missing=set adds the parameter at the end */

    assert_int_equal(parse(&p, "limit cap param=participantLimit max=50 "
                     "missing=set"), 0);

    request(&q, "callProfile.create", NGX_CMS_POLICY_POST, "",
            "locked=true&recordingMode=manual");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SET);
    assert_int_equal(res.index, 2);
    assert_int_equal(res.value, 50);
    assert_span(res.name, "participantLimit");
}


static void
test_require(void **state)
{
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    assert_int_equal(parse(&p, "passcode require op=coSpace.create,"
                     "coSpace.modify if=nonMemberAccess:^true$ "
                     "param=passcode min_length=6 max_length=8 ~ ^[0-9]*$ "
                     "error=passcodeTooShort"), 0);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&passcode=123456");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&passcode=12345");
    check(&p, &q, &res);
    assert_refused(&res, 400, "passcodeTooShort",
                   "policy rule passcode: passcode is shorter than 6 "
                   "characters");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&passcode=123456789");
    check(&p, &q, &res);
    assert_refused(&res, 400, "passcodeTooShort",
                   "policy rule passcode: passcode is longer than 8 "
                   "characters");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&passcode=abcdef");
    check(&p, &q, &res);
    assert_refused(&res, 400, "passcodeTooShort",
                   "policy rule passcode: passcode does not match ^[0-9]*$");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "passcodeTooShort",
                   "policy rule passcode: passcode is required");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=false&passcode=");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.get", NGX_CMS_POLICY_GET, "",
            "nonMemberAccess=true");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    assert_int_equal(parse(&p, "r require param=uri !~ ^admin"), 0);
    request(&q, "coSpace.create", NGX_CMS_POLICY_POST, "", "uri=admin.room");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule r: uri must not match ^admin");
}


static void
test_meetings(void **state)
{
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    assert_int_equal(parse(&p, "max meetings zone=z max=20"), 0);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "name=Board&nonMemberAccess=true");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_METER);
    assert_int_equal(res.meter, NGX_CMS_POLICY_OPEN);
    assert_int_equal(res.status, 400);
    assert_span(res.error, "parameterError");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=FALSE");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_METER);
    assert_int_equal(res.meter, NGX_CMS_POLICY_CLOSE);

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "", "name=x");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.create", NGX_CMS_POLICY_POST, "",
            "nonMemberAccess=true");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_SKIP);

    request(&q, "coSpace.delete", NGX_CMS_POLICY_DELETE, "", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_METER);
    assert_int_equal(res.meter, NGX_CMS_POLICY_CLOSE);

    request(&q, "coSpace.deleteAll", NGX_CMS_POLICY_DELETE, "", NULL);
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_METER);
    assert_int_equal(res.meter, NGX_CMS_POLICY_CLOSE_ALL);

    request(&q, "coSpace.modifyAll", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=false");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_METER);
    assert_int_equal(res.meter, NGX_CMS_POLICY_CLOSE_ALL);

    request(&q, "coSpace.modifyAll", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule max: opening every coSpace at once cannot "
                   "be counted as scheduled meetings");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=yes");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule max: nonMemberAccess must be true or false");

    request(&q, "coSpace.modify", NGX_CMS_POLICY_PUT, "",
            "nonMemberAccess=true&nonMemberAccess=true");
    check(&p, &q, &res);
    assert_refused(&res, 400, "parameterError",
                   "policy rule max: nonMemberAccess is given more than once");
}


static void
test_grants(void **state)
{
    char                     err[NGX_CMS_POLICY_ERR_LEN];
    request_t                q;
    ngx_cms_span_t           role, arg;
    ngx_cms_policy_grant_t   g;

    (void) state;

    role.data = (const unsigned char *) "monitor";
    role.len = 7;

    arg.data = (const unsigned char *) "method=GET";
    arg.len = 10;
    assert_int_equal(ngx_cms_policy_grant_parse(&g, &role, &arg, err,
                                                sizeof(err)), 0);

    request(&q, "unknown", NGX_CMS_POLICY_HEAD, "monitor", NULL);
    assert_true(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "coSpace.create", NGX_CMS_POLICY_POST, "monitor", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "coSpace.list", NGX_CMS_POLICY_GET, "monitors", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));

    arg.data = (const unsigned char *) "participant.*";
    arg.len = 13;
    assert_int_equal(ngx_cms_policy_grant_parse(&g, &role, &arg, err,
                                                sizeof(err)), 0);
    request(&q, "participant.move", NGX_CMS_POLICY_POST, "monitor", NULL);
    assert_true(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "participantX.move", NGX_CMS_POLICY_POST, "monitor", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));

    /* a name without '*': that operation only, not one it begins */

    arg.data = (const unsigned char *) "coSpace.list";
    arg.len = 12;
    assert_int_equal(ngx_cms_policy_grant_parse(&g, &role, &arg, err,
                                                sizeof(err)), 0);
    request(&q, "coSpace.list", NGX_CMS_POLICY_GET, "monitor", NULL);
    assert_true(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "coSpace.listAll", NGX_CMS_POLICY_GET, "monitor", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "coSpace.lisX", NGX_CMS_POLICY_GET, "monitor", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));
    request(&q, "coSpace.get", NGX_CMS_POLICY_GET, "monitor", NULL);
    assert_false(ngx_cms_policy_grant_match(&g, &q.req));

    arg.data = (const unsigned char *) "coSpace.lst";
    arg.len = 11;
    assert_int_equal(ngx_cms_policy_grant_parse(&g, &role, &arg, err,
                                                sizeof(err)), -1);
    assert_string_equal(err, "unknown operation \"coSpace.lst\"");

    arg.data = (const unsigned char *) "method=";
    arg.len = 7;
    assert_int_equal(ngx_cms_policy_grant_parse(&g, &role, &arg, err,
                                                sizeof(err)), -1);
}


/* a reason never overflows, whatever the names */

static void
test_long_reason(void **state)
{
    char                     line[900];
    parsed_t                 p;
    request_t                q;
    ngx_cms_policy_result_t  res;

    (void) state;

    snprintf(line, sizeof(line), "r deny param=remoteParty !~ ^%0600d$", 7);
    assert_int_equal(parse(&p, line), 0);

    request(&q, "callLeg.create", NGX_CMS_POLICY_POST, "", "remoteParty=x");
    assert_int_equal(check(&p, &q, &res), NGX_CMS_POLICY_REFUSE);
    assert_int_equal(res.reason_len, NGX_CMS_POLICY_REASON_LEN - 1);
    assert_int_equal(strlen(res.reason), res.reason_len);
}


int
main(void)
{
    int     rc;
    size_t  i;

    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_deny_param),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_meetings),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_long_reason),
    };

    rc = cmocka_run_group_tests_name("policy rules", tests, NULL, NULL);

    for (i = 0; i < ncompiled; i++) {
        pcre2_code_free(compiled[i]);
    }

    return rc;
}
