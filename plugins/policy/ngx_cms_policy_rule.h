/*
 * ngx_cms policy: rules and role grants, parsed (ngx_cms_policy_parse.c)
 * and matched (ngx_cms_policy_match.c).
 *
 * Pure code: plain buffers in, no nginx types, no allocation, no mutable
 * global state.  Regular expressions are compiled and run through
 * callbacks, so nginx passes its own regex API and the unit test passes
 * PCRE2 directly.  Every string of a parsed rule points into the
 * arguments it was parsed from; they must outlive the rule.
 */


#ifndef _NGX_CMS_POLICY_RULE_H_INCLUDED_
#define _NGX_CMS_POLICY_RULE_H_INCLUDED_


#include <stddef.h>

#include "ngx_cms_api.h"


#define NGX_CMS_POLICY_MAX_OPS       32
#define NGX_CMS_POLICY_MAX_ROLES     16
#define NGX_CMS_POLICY_MAX_CONDS     8
#define NGX_CMS_POLICY_MAX_NUMBER    1000000000000000LL
#define NGX_CMS_POLICY_REASON_LEN    256
#define NGX_CMS_POLICY_ERR_LEN       256

/* a span for "%.*s" */
#define ngx_cms_policy_str(s)        (int) (s)->len, (const char *) (s)->data

/* request methods, as a mask; "GET" in a rule means GET and HEAD */

#define NGX_CMS_POLICY_GET           0x01
#define NGX_CMS_POLICY_HEAD          0x02
#define NGX_CMS_POLICY_POST          0x04
#define NGX_CMS_POLICY_PUT           0x08
#define NGX_CMS_POLICY_DELETE        0x10
#define NGX_CMS_POLICY_OTHER         0x20

/* default answers */

#define NGX_CMS_POLICY_ROLE_STATUS   403
#define NGX_CMS_POLICY_ROLE_ERROR    "invalidOperation"
#define NGX_CMS_POLICY_PARAM_STATUS  400
#define NGX_CMS_POLICY_PARAM_ERROR   "parameterError"


typedef enum {
    NGX_CMS_POLICY_ALLOW = 0,
    NGX_CMS_POLICY_DENY,
    NGX_CMS_POLICY_CAP,
    NGX_CMS_POLICY_REQUIRE,
    NGX_CMS_POLICY_MEETINGS
} ngx_cms_policy_action_e;


typedef enum {
    NGX_CMS_POLICY_MISSING_PASS = 0,
    NGX_CMS_POLICY_MISSING_DENY,
    NGX_CMS_POLICY_MISSING_SET
} ngx_cms_policy_missing_e;


/*
 * Compiles a regular expression; returns an opaque handle, or NULL with
 * a message in err.  Runs one; returns 1 on a match, 0 on none and a
 * negative number on an error (which every rule treats as a refusal).
 */

typedef void *(*ngx_cms_policy_compile_pt)(void *data,
    const ngx_cms_span_t *pattern, int caseless, char *err, size_t errlen);
typedef int (*ngx_cms_policy_exec_pt)(void *re, const unsigned char *s,
    size_t len);


/* a test of one parameter: present, or (with a pattern) matching it */

typedef struct {
    ngx_cms_span_t            name;
    ngx_cms_span_t            pattern;     /* empty: presence only */
    void                     *re;
    unsigned                  negate:1;    /* unless=, !~ */
    unsigned                  caseless:1;  /* ~*, !~* */
} ngx_cms_policy_test_t;


typedef struct {
    ngx_cms_span_t            name;
    ngx_cms_policy_action_e   action;

    /* when the rule applies; empty lists match everything */
    ngx_cms_span_t            ops[NGX_CMS_POLICY_MAX_OPS];
    size_t                    nops;
    ngx_cms_span_t            roles[NGX_CMS_POLICY_MAX_ROLES];
    size_t                    nroles;
    unsigned                  roles_negated:1;
    unsigned                  methods;
    ngx_cms_policy_test_t     conds[NGX_CMS_POLICY_MAX_CONDS];
    size_t                    nconds;

    /* param=: the parameter the action is about */
    ngx_cms_policy_test_t     param;
    unsigned                  has_param:1;

    /* require */
    long long                 min_length;  /* -1: none */
    long long                 max_length;

    /* cap; meetings uses max */
    long long                 min;         /* -1: none */
    long long                 max;
    unsigned                  clamp:1;

    /* mode=report: a refusal is reported, never answered */
    unsigned                  report:1;
    ngx_cms_policy_missing_e  missing;

    /* meetings */
    ngx_cms_span_t            zone;

    /* the answer */
    unsigned                  status;      /* 0: by action */
    ngx_cms_span_t            error;       /* empty: by status */
    ngx_cms_span_t            reason;      /* empty: generated */
} ngx_cms_policy_rule_t;


/* "cms_policy_role <role> <grant> ...": one grant */

typedef struct {
    ngx_cms_span_t            role;
    ngx_cms_span_t            pattern;     /* empty: by method only */
    unsigned                  methods;
} ngx_cms_policy_grant_t;


/* what a rule sees of a request */

typedef struct {
    ngx_cms_span_t            name;        /* decoded */
    ngx_cms_span_t            value;       /* decoded */
} ngx_cms_policy_param_t;


typedef struct {
    const char                    *operation;
    size_t                         operation_len;
    unsigned                       method;   /* one NGX_CMS_POLICY_<M> */
    ngx_cms_span_t                 role;
    const ngx_cms_policy_param_t  *params;
    size_t                         nparams;
} ngx_cms_policy_req_t;


typedef enum {
    NGX_CMS_POLICY_SKIP = 0,       /* does not apply, or is satisfied */
    NGX_CMS_POLICY_PERMIT,         /* an allow rule matched */
    NGX_CMS_POLICY_REFUSE,         /* deny with status, error, reason */
    NGX_CMS_POLICY_SET,            /* set a parameter to a number */
    NGX_CMS_POLICY_METER           /* a meetings rule counts this */
} ngx_cms_policy_outcome_e;


typedef enum {
    NGX_CMS_POLICY_OPEN = 1,       /* nonMemberAccess=true on one space */
    NGX_CMS_POLICY_CLOSE,          /* nonMemberAccess=false, or deleted */
    NGX_CMS_POLICY_CLOSE_ALL       /* nonMemberAccess=false on every one */
} ngx_cms_policy_meter_e;


typedef struct {
    ngx_cms_policy_outcome_e  outcome;

    /* REFUSE */
    unsigned                  status;
    ngx_cms_span_t            error;
    char                      reason[NGX_CMS_POLICY_REASON_LEN];
    size_t                    reason_len;

    /* SET: params[index] (index == nparams: add it) becomes value */
    size_t                    index;
    ngx_cms_span_t            name;
    long long                 value;

    /* METER */
    ngx_cms_policy_meter_e    meter;
} ngx_cms_policy_result_t;


int ngx_cms_policy_rule_parse(ngx_cms_policy_rule_t *rule,
    const ngx_cms_span_t *args, size_t nargs,
    ngx_cms_policy_compile_pt compile, void *data, char *err,
    size_t errlen);

void ngx_cms_policy_rule_check(const ngx_cms_policy_rule_t *rule,
    const ngx_cms_policy_req_t *req, ngx_cms_policy_exec_pt exec,
    ngx_cms_policy_result_t *res);

int ngx_cms_policy_grant_parse(ngx_cms_policy_grant_t *grant,
    const ngx_cms_span_t *role, const ngx_cms_span_t *arg, char *err,
    size_t errlen);

int ngx_cms_policy_grant_match(const ngx_cms_policy_grant_t *grant,
    const ngx_cms_policy_req_t *req);

int ngx_cms_policy_name_valid(const ngx_cms_span_t *name);
unsigned ngx_cms_policy_method(const unsigned char *name, size_t len);


#endif /* _NGX_CMS_POLICY_RULE_H_INCLUDED_ */
