
/*
 * ngx_cms plugin "rewrite": changes what goes to the bridge and what
 * comes back from it.
 *
 * On the way in, parameters are rewritten by regular expression
 * ("cms_rewrite_param remoteParty ^(\d+)$ $1@video.example.com"), through
 * ngx_cms_param_set(), so the core re-encodes the body and fixes
 * Content-Length.  On the way out, the <address> of a /callBridges/<id>
 * answer is replaced by the proxy's own advertised address: TMS fills
 * its failover drop-down from those answers, and a client that followed
 * the bridge's real address would leave the proxy behind.
 *
 * Only the public plugin header is used, as a third-party plugin would.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_cms_bytes.h>
#include <ngx_cms_plugin.h>
#include <ngx_cms_regex.h>

#include <libxml/tree.h>


#define NGX_CMS_REWRITE_PRIORITY      100
#define NGX_CMS_REWRITE_MAX_CAPTURE   9
#define NGX_CMS_REWRITE_LITERAL       ((ngx_uint_t) -1)


typedef struct {
    ngx_uint_t                  capture;    /* 0..9 or LITERAL */
    ngx_str_t                   text;       /* for LITERAL */
} ngx_cms_rewrite_part_t;


typedef struct {
    ngx_str_t                   name;       /* decoded, NUL-terminated */
    ngx_str_t                   pattern;
    ngx_regex_t                *regex;
    ngx_uint_t                  captures;   /* groups in the regex */
    ngx_array_t                *parts;      /* of ngx_cms_rewrite_part_t */
    ngx_array_t                *ops;        /* of ngx_str_t; NULL: all */
} ngx_cms_rewrite_rule_t;


typedef struct {
    ngx_array_t                *rules;      /* of ngx_cms_rewrite_rule_t;
                                               NULL: none */
    ngx_str_t                   advertise;  /* empty: off */
} ngx_cms_rewrite_loc_conf_t;


static ngx_int_t ngx_cms_rewrite_request(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_rewrite_apply(ngx_cms_call_t *call,
    ngx_cms_rewrite_rule_t *rule);
static ngx_int_t ngx_cms_rewrite_response(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_rewrite_address(ngx_cms_call_t *call,
    ngx_cms_rewrite_loc_conf_t *lcf, xmlDocPtr doc);
static ngx_uint_t ngx_cms_rewrite_op_match(ngx_array_t *ops,
    ngx_str_t *operation);
static ngx_uint_t ngx_cms_rewrite_is(ngx_str_t *s, const char *text);

static char *ngx_cms_rewrite_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_cms_rewrite_parse_replacement(ngx_conf_t *cf,
    ngx_cms_rewrite_rule_t *rule, ngx_str_t *value);
static char *ngx_cms_rewrite_parse_ops(ngx_conf_t *cf,
    ngx_cms_rewrite_rule_t *rule, ngx_str_t *value);
static char *ngx_cms_rewrite_advertise(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_cms_rewrite_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_rewrite_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_cms_rewrite_preconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_cms_rewrite_commands[] = {

    { ngx_string("cms_rewrite_param"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE1|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_cms_rewrite_param,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_advertise_address"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_cms_rewrite_advertise,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_rewrite_module_ctx = {
    ngx_cms_rewrite_preconfiguration,      /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_rewrite_create_loc_conf,       /* create location configuration */
    ngx_cms_rewrite_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_cms_rewrite_module = {
    NGX_MODULE_V1,
    &ngx_cms_rewrite_module_ctx,           /* module context */
    ngx_cms_rewrite_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_cms_plugin_t  ngx_cms_rewrite_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("rewrite"),
    NGX_CMS_REWRITE_PRIORITY,
    ngx_cms_rewrite_request,
    ngx_cms_rewrite_response,
    NULL,
    NULL,
    0,
    NULL
};


/* the request hook */

static ngx_int_t
ngx_cms_rewrite_request(ngx_cms_call_t *call)
{
    ngx_str_t                   *op;
    ngx_uint_t                   i;
    ngx_cms_rewrite_rule_t      *rule;
    ngx_cms_rewrite_loc_conf_t  *lcf;

    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);

    lcf = ngx_http_get_module_loc_conf(ngx_cms_call_request(call),
                                       ngx_cms_rewrite_module);

    if (lcf->advertise.len
        && ngx_cms_rewrite_is(op, "callBridge.get"))
    {
        ngx_cms_want_response_body(call);
    }

    if (lcf->rules == NULL || ngx_cms_call_params(call) == NULL) {
        return NGX_DECLINED;
    }

    rule = lcf->rules->elts;

    /* in order: each rule sees what the rules before it made */

    for (i = 0; i < lcf->rules->nelts; i++) {

        if (rule[i].ops && !ngx_cms_rewrite_op_match(rule[i].ops, op)) {
            continue;
        }

        if (ngx_cms_rewrite_apply(call, &rule[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_cms_rewrite_apply(ngx_cms_call_t *call, ngx_cms_rewrite_rule_t *rule)
{
    int                      captures[(NGX_CMS_REWRITE_MAX_CAPTURE + 1) * 3];
    u_char                  *p;
    size_t                   len;
    ngx_int_t                rc;
    ngx_str_t                value, subject;
    ngx_uint_t               i, n, pairs;
    ngx_cms_param_t         *prm;
    ngx_http_request_t      *r;
    ngx_cms_rewrite_part_t  *part;

    r = ngx_cms_call_request(call);

    /* only the groups the regex has (the replacement names no others) */
    pairs = ngx_min(rule->captures, NGX_CMS_REWRITE_MAX_CAPTURE) + 1;

    prm = ngx_cms_param_get(call, (const char *) rule->name.data);
    if (prm == NULL) {
        return NGX_OK;
    }

    /* an empty value may have no data, and PCRE2 refuses a NULL subject */

    subject = prm->value;

    if (subject.data == NULL) {
        subject.data = (u_char *) "";
    }

    rc = ngx_cms_regex_exec(rule->regex, &subject, captures, pairs * 3);

    if (rc == NGX_REGEX_NO_MATCHED) {
        return NGX_OK;
    }

    if (rc < 0) {
        /*
         * A match that could not be run (PCRE2's match limits) is an
         * error, not a "no match": the operator asked for this value
         * never to reach the bridge unrewritten.
         */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cms rewrite: " ngx_regex_exec_n " failed: %i on "
                      "parameter \"%V\" with \"%V\"",
                      rc, &rule->name, &rule->pattern);
        return NGX_ERROR;
    }

    /* 0: more groups than we keep; the pairs asked for are filled in */
    n = (rc == 0 || (ngx_uint_t) rc > pairs) ? pairs : (ngx_uint_t) rc;

    part = rule->parts->elts;
    len = 0;

    for (i = 0; i < rule->parts->nelts; i++) {
        if (part[i].capture == NGX_CMS_REWRITE_LITERAL) {
            len += part[i].text.len;

        } else if (part[i].capture < n
                   && captures[part[i].capture * 2] >= 0)
        {
            len += captures[part[i].capture * 2 + 1]
                   - captures[part[i].capture * 2];
        }
    }

    value.data = ngx_pnalloc(r->pool, len ? len : 1);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = value.data;

    for (i = 0; i < rule->parts->nelts; i++) {
        if (part[i].capture == NGX_CMS_REWRITE_LITERAL) {
            p = ngx_cpymem(p, part[i].text.data, part[i].text.len);

        } else if (part[i].capture < n
                   && captures[part[i].capture * 2] >= 0)
        {
            p = ngx_cpymem(p, subject.data + captures[part[i].capture * 2],
                           captures[part[i].capture * 2 + 1]
                           - captures[part[i].capture * 2]);
        }
    }

    value.len = p - value.data;

    if (value.len == subject.len
        && ngx_memcmp(value.data, subject.data, value.len) == 0)
    {
        /* unchanged: the body goes on byte for byte */
        return NGX_OK;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "cms rewrite: %V: \"%V\" rewritten to \"%V\" by \"%V\"",
                   &rule->name, &prm->value, &value, &rule->pattern);

    return ngx_cms_param_set(call, &rule->name, &value);
}


/* the response hook: <address> of /callBridges/<id> */

static ngx_int_t
ngx_cms_rewrite_response(ngx_cms_call_t *call)
{
    xmlDocPtr                    doc;
    ngx_str_t                   *op;
    ngx_log_t                   *log;
    ngx_http_request_t          *r;
    ngx_cms_rewrite_loc_conf_t  *lcf;

    r = ngx_cms_call_request(call);
    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);

    lcf = ngx_http_get_module_loc_conf(r, ngx_cms_rewrite_module);

    if (lcf->advertise.len == 0
        || !ngx_cms_rewrite_is(op, "callBridge.get")
        || ngx_cms_call_num(call, NGX_CMS_CALL_STATUS) != NGX_HTTP_OK)
    {
        return NGX_DECLINED;
    }

    log = r->connection->log;

    /*
     * The answer goes on as the bridge sent it, with the bridge's own
     * address in it: say so, once, so the operator can tell why a client
     * went around the proxy.
     */

    if (ngx_cms_call_num(call, NGX_CMS_CALL_RESPONSE_TOO_BIG)) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "cms rewrite: answer to %V not rewritten: over "
                      "cms_response_buffer", op);
        return NGX_DECLINED;
    }

    if (ngx_cms_call_num(call, NGX_CMS_CALL_RESPONSE_MALFORMED)) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "cms rewrite: answer to %V not rewritten: not "
                      "well-formed XML", op);
        return NGX_DECLINED;
    }

    doc = ngx_cms_response_xml(call);

    if (doc == NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "cms rewrite: answer to %V not rewritten: no XML body",
                      op);
        return NGX_DECLINED;
    }

    return ngx_cms_rewrite_address(call, lcf, doc);
}


static ngx_int_t
ngx_cms_rewrite_address(ngx_cms_call_t *call,
    ngx_cms_rewrite_loc_conf_t *lcf, xmlDocPtr doc)
{
    xmlNodePtr   root, node, text, child;
    ngx_uint_t   changed;

    root = xmlDocGetRootElement(doc);

    if (root == NULL
        || xmlStrcmp(root->name, (const xmlChar *) "callBridge") != 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP,
                       ngx_cms_call_request(call)->connection->log, 0,
                       "cms rewrite: answer to %V is not a <callBridge>",
                       ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION));
        return NGX_DECLINED;
    }

    changed = 0;

    for (node = root->children; node; node = node->next) {

        if (node->type != XML_ELEMENT_NODE
            || xmlStrcmp(node->name, (const xmlChar *) "address") != 0)
        {
            continue;
        }

        text = xmlNewDocTextLen(doc, lcf->advertise.data,
                                (int) lcf->advertise.len);
        if (text == NULL) {
            return NGX_ERROR;
        }

        while (node->children) {
            child = node->children;
            xmlUnlinkNode(child);
            xmlFreeNode(child);
        }

        if (xmlAddChild(node, text) == NULL) {
            xmlFreeNode(text);
            return NGX_ERROR;
        }

        changed = 1;
    }

    if (!changed) {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP,
                   ngx_cms_call_request(call)->connection->log, 0,
                   "cms rewrite: <address> of callBridge %V is now \"%V\"",
                   ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID),
                   &lcf->advertise);

    ngx_cms_response_changed(call);

    return NGX_OK;
}


static ngx_uint_t
ngx_cms_rewrite_op_match(ngx_array_t *ops, ngx_str_t *operation)
{
    ngx_str_t   *op;
    ngx_uint_t   i;

    op = ops->elts;

    for (i = 0; i < ops->nelts; i++) {

        /* "callLeg.*": every operation on callLegs */

        if (op[i].data[op[i].len - 1] == '*') {
            if (operation->len >= op[i].len - 1
                && ngx_cms_bytes_eq(operation->data, op[i].data,
                                    op[i].len - 1))
            {
                return 1;
            }

            continue;
        }

        if (op[i].len == operation->len
            && ngx_cms_bytes_eq(op[i].data, operation->data, op[i].len))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_cms_rewrite_is(ngx_str_t *s, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}


/*
 * cms_rewrite_param <name> <regex> <replacement> [op=<op>[,<op>...]];
 * cms_rewrite_param off;
 */

static char *
ngx_cms_rewrite_param(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_rewrite_loc_conf_t  *lcf = conf;

    char                    *rv;
    u_char                   errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t               *value;
    ngx_regex_compile_t      rc;
    ngx_cms_rewrite_rule_t  *rule;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "off") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\": expected "
                               "\"off\" or <name> <regex> <replacement> "
                               "[op=<operation>,...]",
                               &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }

        if (lcf->rules != NGX_CONF_UNSET_PTR) {
            return "is duplicate, or \"off\" mixed with rules";
        }

        /* off: no rules here, none inherited */
        lcf->rules = NULL;

        return NGX_CONF_OK;
    }

    if (lcf->rules == NULL) {
        return "has rules after \"cms_rewrite_param off\"";
    }

    if (lcf->rules == NGX_CONF_UNSET_PTR) {
        lcf->rules = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_cms_rewrite_rule_t));
        if (lcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty parameter name in \"%V\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    rule = ngx_array_push(lcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_cms_rewrite_rule_t));

    /* arguments are NUL-terminated: ngx_cms_param_get() takes a C string */
    rule->name = value[1];
    rule->pattern = value[2];

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = value[2];
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_cms_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid regex \"%V\" in \"%V\" for \"%V\": %V",
                           &value[2], &cmd->name, &value[1], &rc.err);
        return NGX_CONF_ERROR;
    }

    rule->regex = rc.regex;
    rule->captures = rc.captures;

    rv = ngx_cms_rewrite_parse_replacement(cf, rule, &value[3]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (cf->args->nelts == 5) {
        return ngx_cms_rewrite_parse_ops(cf, rule, &value[4]);
    }

    return NGX_CONF_OK;
}


/* "$1@video.example.com": literals and $0..$9; "$$" is a dollar */

static char *
ngx_cms_rewrite_parse_replacement(ngx_conf_t *cf,
    ngx_cms_rewrite_rule_t *rule, ngx_str_t *value)
{
    u_char                  *p, *last, *start;
    ngx_uint_t               n;
    ngx_cms_rewrite_part_t  *part;

    rule->parts = ngx_array_create(cf->pool, 4,
                                   sizeof(ngx_cms_rewrite_part_t));
    if (rule->parts == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data;
    last = p + value->len;

    while (p < last) {

        start = p;

        while (p < last && *p != '$') {
            p++;
        }

        if (p > start) {
            part = ngx_array_push(rule->parts);
            if (part == NULL) {
                return NGX_CONF_ERROR;
            }

            part->capture = NGX_CMS_REWRITE_LITERAL;
            part->text.data = start;
            part->text.len = p - start;
        }

        if (p == last) {
            break;
        }

        /* *p == '$' */

        if (p + 1 < last && p[1] == '$') {
            part = ngx_array_push(rule->parts);
            if (part == NULL) {
                return NGX_CONF_ERROR;
            }

            part->capture = NGX_CMS_REWRITE_LITERAL;
            part->text.data = p;
            part->text.len = 1;

            p += 2;
            continue;
        }

        if (p + 1 == last || p[1] < '0' || p[1] > '9') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid replacement \"%V\" in "
                               "\"cms_rewrite_param\" for \"%V\": \"$\" at "
                               "byte %uz must be followed by a digit or "
                               "\"$\"", value, &rule->name,
                               (size_t) (p - value->data));
            return NGX_CONF_ERROR;
        }

        n = p[1] - '0';

        if (n > rule->captures) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid replacement \"%V\" in "
                               "\"cms_rewrite_param\" for \"%V\": \"$%ui\" "
                               "but \"%V\" has %ui capture(s)",
                               value, &rule->name, n, &rule->pattern,
                               rule->captures);
            return NGX_CONF_ERROR;
        }

        part = ngx_array_push(rule->parts);
        if (part == NULL) {
            return NGX_CONF_ERROR;
        }

        part->capture = n;
        ngx_str_null(&part->text);

        p += 2;
    }

    return NGX_CONF_OK;
}


/* "op=callLeg.create,participant.*" */

static char *
ngx_cms_rewrite_parse_ops(ngx_conf_t *cf, ngx_cms_rewrite_rule_t *rule,
    ngx_str_t *value)
{
    u_char     *p, *last, *start;
    ngx_str_t  *op;

    if (value->len <= 3 || ngx_strncmp(value->data, "op=", 3) != 0) {
        goto invalid;
    }

    rule->ops = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (rule->ops == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data + 3;
    last = value->data + value->len;

    for ( ;; ) {
        start = p;

        while (p < last && *p != ',') {
            if (*p <= ' ' || *p >= 0x7f) {
                goto invalid;
            }

            p++;
        }

        if (p == start) {
            goto invalid;
        }

        op = ngx_array_push(rule->ops);
        if (op == NULL) {
            return NGX_CONF_ERROR;
        }

        op->data = start;
        op->len = p - start;

        if (p == last) {
            return NGX_CONF_OK;
        }

        p++;   /* ',' */

        if (p == last) {
            goto invalid;
        }
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"cms_rewrite_param\" for "
                       "\"%V\": expected op=<operation>[,<operation>...]",
                       value, &rule->name);
    return NGX_CONF_ERROR;
}


/* cms_advertise_address https://cms-proxy.example.com:445 | off; */

static char *
ngx_cms_rewrite_advertise(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_rewrite_loc_conf_t  *lcf = conf;

    u_char     *p, *host;
    ngx_str_t  *value;

    if (lcf->advertise.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        /* set, but empty: nothing inherited either */
        ngx_str_set(&lcf->advertise, "");
        return NGX_CONF_OK;
    }

    /*
     * What CMS itself puts there: the Web Admin URL, scheme and host and
     * maybe a port ("https://14.80.82.30", "https://1.1.1.1:8443").
     * Printable ASCII only, as it goes into XML text as it is.
     */

    if (value[1].len > 8
        && ngx_strncasecmp(value[1].data, (u_char *) "https://", 8) == 0)
    {
        host = value[1].data + 8;

    } else if (value[1].len > 7
               && ngx_strncasecmp(value[1].data, (u_char *) "http://", 7)
                  == 0)
    {
        host = value[1].data + 7;

    } else {
        goto invalid;
    }

    if (*host == '/' || *host == ':') {
        goto invalid;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '<' || *p == '>' || *p == '&'
            || *p == '"')
        {
            goto invalid;
        }
    }

    lcf->advertise = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\": expected "
                       "http[s]://host[:port] or \"off\"",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


static void *
ngx_cms_rewrite_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_rewrite_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_rewrite_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->advertise = { 0, NULL };
     */

    lcf->rules = NGX_CONF_UNSET_PTR;

    return lcf;
}


/*
 * The nginx way, as proxy_set_header: a level with rules of its own
 * replaces the inherited ones as a whole.
 */

static char *
ngx_cms_rewrite_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_rewrite_loc_conf_t  *prev = parent;
    ngx_cms_rewrite_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_str_value(conf->advertise, prev->advertise, "");

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_rewrite_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_rewrite_plugin);
}
