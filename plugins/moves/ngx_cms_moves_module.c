
/*
 * ngx_cms moves plugin: CMM's participant moves (seed 004).
 *
 *   cms_move_roles <role> ...;            who may move (default: anyone)
 *   cms_move_check_can_move on|off;       ask CMS first (default off)
 *   cms_move_check_timeout <time>;        default 3s
 *   cms_move_upstream <upstream name>;    the cluster to ask (default:
 *                                         the one with cms_bridge)
 *
 * POST /calls/<target call>/participants with movedParticipant=<id> is
 * "participant.move".  This plugin:
 *
 *   - refuses it for a role not in cms_move_roles: 403,
 *     <failureDetails><participantCannotBeMoved rule="move-roles" />;
 *   - with cms_move_check_can_move, reads GET /participants/<id> from the
 *     bridges itself (the participant may live on any of them) while the
 *     request waits, and refuses a participant whose <canMove> is false:
 *     400, <participantCannotBeMoved rule="can-move" />, instead of
 *     letting CMS drop the participant half way (seed 004's failure
 *     "dropped but not reconnected");
 *   - tells the audit what happened, as an event of type "move": the old
 *     participant, the target call, the new participant (the Location's
 *     id: a moved participant gets a new id), who, and the outcome.
 *
 * Routing the POST to the bridge that hosts the target call is the
 * balancer's (call affinity), not this plugin's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_cms_plugin.h>
#include <ngx_cms_bridge.h>
#include <ngx_cms_xml.h>
#include <ngx_cms_json.h>

#include <libxml/tree.h>
#include <libxml/parser.h>


#define NGX_CMS_MOVES_PRIORITY      900
#define NGX_CMS_MOVES_MAX_BRIDGES   8


typedef struct {
    ngx_array_t                *roles;      /* of ngx_str_t; NULL: any */
    ngx_flag_t                  check;
    ngx_msec_t                  timeout;
    ngx_str_t                   upstream;
} ngx_cms_moves_loc_conf_t;


typedef struct ngx_cms_moves_req_s  ngx_cms_moves_req_t;


/* a canMove check on its way; outlives the request if it must */

typedef struct {
    ngx_cms_moves_req_t        *mr;         /* NULL: the request is gone */
    ngx_pool_cleanup_t         *cln;
    ngx_cms_client_t           *cc;
    ngx_cms_client_target_t     targets[NGX_CMS_MOVES_MAX_BRIDGES];
    ngx_str_t                   names[NGX_CMS_MOVES_MAX_BRIDGES];
    ngx_uint_t                  ntargets;
    ngx_uint_t                  next;
    ngx_str_t                   path;
    u_char                      path_buf[160];
    ngx_log_t                  *log;
} ngx_cms_moves_check_t;



struct ngx_cms_moves_req_s {
    ngx_cms_call_t             *call;
    ngx_str_t                   participant;
    ngx_str_t                   target;
    const char                 *outcome;    /* set when refused here */
    ngx_str_t                   checked_on; /* the bridge that answered */
    ngx_str_t                   can_move;   /* what it said */
    unsigned                    logged:1;
};


static ngx_int_t ngx_cms_moves_request(ngx_cms_call_t *call);
static void ngx_cms_moves_log(ngx_cms_call_t *call);
static ngx_int_t ngx_cms_moves_refuse(ngx_cms_call_t *call,
    ngx_cms_moves_req_t *mr, ngx_uint_t status, const char *rule,
    const char *outcome, ngx_str_t *reason);
static void ngx_cms_moves_event(ngx_cms_call_t *call,
    ngx_cms_moves_req_t *mr);
static ngx_int_t ngx_cms_moves_check(ngx_cms_call_t *call,
    ngx_cms_moves_req_t *mr, ngx_cms_moves_loc_conf_t *mlcf);
static ngx_uint_t ngx_cms_moves_targets(ngx_cms_moves_loc_conf_t *mlcf,
    ngx_cms_moves_check_t *ck);
static ngx_int_t ngx_cms_moves_ask(ngx_cms_moves_check_t *ck);
static void ngx_cms_moves_answer(ngx_cms_client_t *cc);
static void ngx_cms_moves_cleanup(void *data);

static char *ngx_cms_moves_roles(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_cms_moves_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cms_moves_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_cms_moves_preconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_cms_moves_commands[] = {

    { ngx_string("cms_move_roles"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_cms_moves_roles,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("cms_move_check_can_move"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_moves_loc_conf_t, check),
      NULL },

    { ngx_string("cms_move_check_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_moves_loc_conf_t, timeout),
      NULL },

    { ngx_string("cms_move_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_cms_moves_loc_conf_t, upstream),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_cms_moves_module_ctx = {
    ngx_cms_moves_preconfiguration,        /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_cms_moves_create_loc_conf,         /* create location configuration */
    ngx_cms_moves_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_cms_moves_module = {
    NGX_MODULE_V1,
    &ngx_cms_moves_module_ctx,             /* module context */
    ngx_cms_moves_commands,                /* module directives */
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


static ngx_cms_plugin_t  ngx_cms_moves_plugin = {
    NGX_CMS_PLUGIN_ABI_VERSION,
    ngx_string("moves"),
    NGX_CMS_MOVES_PRIORITY,
    ngx_cms_moves_request,
    NULL,
    ngx_cms_moves_log,
    NULL,
    0,
    NULL
};


static ngx_uint_t
ngx_cms_moves_is(ngx_str_t *s, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return s->len == len && ngx_strncmp(s->data, text, len) == 0;
}


static ngx_int_t
ngx_cms_moves_request(ngx_cms_call_t *call)
{
    u_char                    *p;
    ngx_str_t                  reason, *role, *call_role, *call_id, *user;
    ngx_uint_t                 i;
    ngx_cms_param_t           *moved;
    ngx_http_request_t        *r;
    ngx_cms_moves_req_t       *mr;
    ngx_cms_moves_loc_conf_t  *mlcf;

    if (!ngx_cms_moves_is(ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION),
                          "participant.move"))
    {
        return NGX_DECLINED;
    }

    r = ngx_cms_call_request(call);
    call_id = ngx_cms_call_str(call, NGX_CMS_CALL_CALL_ID);
    call_role = ngx_cms_call_str(call, NGX_CMS_CALL_ROLE);
    user = ngx_cms_call_str(call, NGX_CMS_CALL_USER);

    mlcf = ngx_http_get_module_loc_conf(r, ngx_cms_moves_module);

    mr = ngx_pcalloc(r->pool, sizeof(ngx_cms_moves_req_t));
    if (mr == NULL) {
        return NGX_ERROR;
    }

    mr->call = call;
    mr->target = call_id->len ? *call_id
                              : *ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    moved = ngx_cms_param_get(call, "movedParticipant");
    if (moved) {
        mr->participant = moved->value;
    }

    *ngx_cms_call_ctx(call, &ngx_cms_moves_plugin) = mr;

    if (mlcf->roles) {
        role = mlcf->roles->elts;

        for (i = 0; i < mlcf->roles->nelts; i++) {
            if (role[i].len == call_role->len
                && ngx_strncmp(role[i].data, call_role->data, role[i].len)
                   == 0)
            {
                break;
            }
        }

        if (i == mlcf->roles->nelts) {
            p = ngx_pnalloc(r->pool, 256);
            if (p == NULL) {
                return NGX_ERROR;
            }

            reason.data = p;
            reason.len = ngx_snprintf(p, 256,
                                      "role \"%V\" of \"%V\" may not move "
                                      "participants (cms_move_roles)",
                                      call_role, user) - p;

            return ngx_cms_moves_refuse(call, mr, NGX_HTTP_FORBIDDEN,
                                        "move-roles", "denied", &reason);
        }
    }

    if (!mlcf->check || mr->participant.len == 0) {
        return NGX_DECLINED;
    }

    return ngx_cms_moves_check(call, mr, mlcf);
}


static ngx_int_t
ngx_cms_moves_refuse(ngx_cms_call_t *call, ngx_cms_moves_req_t *mr,
    ngx_uint_t status, const char *rule, const char *outcome,
    ngx_str_t *reason)
{
    ngx_str_t  r;

    r.data = (u_char *) rule;
    r.len = ngx_strlen(rule);

    mr->outcome = outcome;

    ngx_log_error(NGX_LOG_WARN, ngx_cms_call_request(call)->connection->log, 0,
                  "cms moves: move of participant \"%V\" into call \"%V\" "
                  "refused: %V", &mr->participant, &mr->target, reason);

    ngx_cms_deny(call, status, "participantCannotBeMoved", &r, reason);

    return NGX_CMS_DENY;
}



/*
 * The participant may live on any bridge of the cluster (seed 004:
 * the target call's bridge asks the participant's): ask them in order
 * until one knows it.
 */

static ngx_int_t
ngx_cms_moves_check(ngx_cms_call_t *call, ngx_cms_moves_req_t *mr,
    ngx_cms_moves_loc_conf_t *mlcf)
{
    u_char                 *p, c;
    size_t                  i;
    ngx_pool_cleanup_t     *cln;
    ngx_http_request_t     *r;
    ngx_cms_moves_check_t  *ck;

    r = ngx_cms_call_request(call);

    if (mr->participant.len > 64) {
        return NGX_DECLINED;
    }

    /* an id goes into a request line sent with the bridge's credentials:
     * anything but a GUID's letters, digits and dashes is not checked */

    for (i = 0; i < mr->participant.len; i++) {
        c = mr->participant.data[i];

        if (!((c >= '0' && c <= '9')
              || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
              || c == '-'))
        {
            return NGX_DECLINED;
        }
    }

    ck = ngx_calloc(sizeof(ngx_cms_moves_check_t), r->connection->log);
    if (ck == NULL) {
        return NGX_ERROR;
    }

    ck->log = ngx_cycle->log;

    if (ngx_cms_moves_targets(mlcf, ck) == 0) {
        ngx_free(ck);
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "cms moves: no bridge to ask about participant "
                      "\"%V\"; move not checked", &mr->participant);
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_free(ck);
        return NGX_ERROR;
    }

    ck->mr = mr;
    ck->cln = cln;
    cln->handler = ngx_cms_moves_cleanup;
    cln->data = ck;

    p = ngx_cpymem(ck->path_buf, "/api/v1/participants/", 21);
    p = ngx_cpymem(p, mr->participant.data, mr->participant.len);
    ck->path.data = ck->path_buf;
    ck->path.len = p - ck->path_buf;

    if (ngx_cms_moves_ask(ck) != NGX_OK) {
        cln->handler = NULL;
        ngx_free(ck);
        return NGX_DECLINED;
    }

    return NGX_CMS_SUSPEND;
}


static ngx_uint_t
ngx_cms_moves_targets(ngx_cms_moves_loc_conf_t *mlcf,
    ngx_cms_moves_check_t *ck)
{
    ngx_uint_t                i, n;
    ngx_cms_bridge_target_t   bt[NGX_CMS_MOVES_MAX_BRIDGES];

    n = ngx_cms_bridge_targets(&mlcf->upstream, NGX_CMS_BRIDGE_ALL, bt,
                               NGX_CMS_MOVES_MAX_BRIDGES, mlcf->timeout,
                               64 * 1024, ck->log);

    for (i = 0; i < n && ck->ntargets < NGX_CMS_MOVES_MAX_BRIDGES; i++) {
        ck->targets[ck->ntargets] = bt[i].target;
        ck->names[ck->ntargets++] = bt[i].name;
    }

    return ck->ntargets;
}


static ngx_int_t
ngx_cms_moves_ask(ngx_cms_moves_check_t *ck)
{
    ngx_str_t  method;

    ngx_str_set(&method, "GET");

    ck->cc = ngx_cms_client_request(&ck->targets[ck->next], &method,
                                    &ck->path, NULL, ngx_cms_moves_answer,
                                    ck);

    return ck->cc ? NGX_OK : NGX_ERROR;
}


static void
ngx_cms_moves_answer(ngx_cms_client_t *cc)
{
    ngx_cms_moves_check_t  *ck = cc->data;

    ngx_int_t              rc;
    xmlChar               *v;
    ngx_str_t              reason;
    xmlDocPtr              doc;
    xmlNodePtr             root, c;
    ngx_cms_call_t        *call;
    ngx_cms_moves_req_t   *mr;

    ck->cc = NULL;
    mr = ck->mr;

    if (mr == NULL) {
        /* the request is gone: nothing waits for the answer */
        ngx_free(ck);
        return;
    }

    if (cc->rc == NGX_OK && cc->status == NGX_HTTP_NOT_FOUND
        && ck->next + 1 < ck->ntargets)
    {
        /* not this bridge's participant: the next one's? */
        ck->next++;

        if (ngx_cms_moves_ask(ck) == NGX_OK) {
            return;
        }
    }

    call = mr->call;
    rc = NGX_DECLINED;

    if (ck->cln) {
        ck->cln->handler = NULL;
    }

    if (cc->rc != NGX_OK || cc->status != NGX_HTTP_OK) {
        /* no answer worth acting on: the bridge decides */
        ngx_log_error(NGX_LOG_WARN,
                      ngx_cms_call_request(call)->connection->log, 0,
                      "cms moves: could not check participant \"%V\" on "
                      "bridge \"%V\" (status %ui%s%V); the move goes on "
                      "unchecked", &mr->participant, &ck->names[ck->next],
                      cc->status, cc->rc == NGX_OK ? "" : ", ", &cc->error);
        goto done;
    }

    mr->checked_on = ck->names[ck->next];

    doc = ngx_cms_xml_read(cc->body.data, cc->body.len, NULL, NULL);
    root = doc ? xmlDocGetRootElement(doc) : NULL;

    for (c = root ? root->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE
            || xmlStrcmp(c->name, (const xmlChar *) "canMove") != 0)
        {
            continue;
        }

        v = xmlNodeGetContent(c);

        if (v && xmlStrcmp(v, (const xmlChar *) "false") == 0) {
            ngx_str_set(&mr->can_move, "false");
            ngx_str_set(&reason, "CMS says the participant cannot be "
                                 "moved (canMove false)");
            rc = ngx_cms_moves_refuse(call, mr, NGX_HTTP_BAD_REQUEST,
                                      "can-move", "refused_can_move",
                                      &reason);

        } else if (v && xmlStrcmp(v, (const xmlChar *) "true") == 0) {
            ngx_str_set(&mr->can_move, "true");
        }

        if (v) {
            xmlFree(v);
        }

        break;
    }

    if (doc) {
        xmlFreeDoc(doc);
    }

done:

    ngx_free(ck);

    ngx_cms_resume(call, rc);
}


static void
ngx_cms_moves_cleanup(void *data)
{
    ngx_cms_moves_check_t  *ck = data;

    /* the client's answer will find no request: it frees ck */
    ck->mr = NULL;
    ck->cln = NULL;
}



/* every move, whatever became of it, is an event for the audit */

static void
ngx_cms_moves_log(ngx_cms_call_t *call)
{
    ngx_cms_moves_req_t  *mr;

    mr = *ngx_cms_call_ctx(call, &ngx_cms_moves_plugin);

    if (mr == NULL || mr->logged) {
        return;
    }

    mr->logged = 1;

    ngx_cms_moves_event(call, mr);
}


static void
ngx_cms_moves_event(ngx_cms_call_t *call, ngx_cms_moves_req_t *mr)
{
    ngx_cms_json_t     j;
    u_char             buf[1024];
    ngx_str_t          new_id;
    ngx_uint_t         status;
    const char        *outcome;
    ngx_cms_event_t    ev;

    status = ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);

    /* the new participant: the Location's last segment */

    new_id = *ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);

    outcome = mr->outcome;

    if (outcome == NULL) {
        outcome = (status == NGX_HTTP_OK) ? "moved" : "failed";
    }

    /* what a move names is short: it fits */

    ngx_cms_json_init(&j, buf, sizeof(buf));

#define ngx_cms_moves_field(key, s)                                           \
    if ((s)->len) {                                                           \
        ngx_cms_json_key_lit(&j, key);                                        \
        ngx_cms_json_string(&j, (s)->data, (s)->len);                         \
    }

    ngx_cms_json_open(&j, '{');
    ngx_cms_json_key_lit(&j, "outcome");
    ngx_cms_json_cstring(&j, outcome);
    ngx_cms_moves_field("participant", &mr->participant);
    ngx_cms_moves_field("call", &mr->target);
    ngx_cms_moves_field("new_participant", &new_id);
    ngx_cms_moves_field("user", ngx_cms_call_str(call, NGX_CMS_CALL_USER));
    ngx_cms_moves_field("role", ngx_cms_call_str(call, NGX_CMS_CALL_ROLE));
    ngx_cms_moves_field("bridge", ngx_cms_call_str(call, NGX_CMS_CALL_BRIDGE));
    ngx_cms_moves_field("can_move", &mr->can_move);
    ngx_cms_moves_field("checked_on", &mr->checked_on);
    ngx_cms_json_key_lit(&j, "status");
    ngx_cms_json_uint(&j, status);
    ngx_cms_json_close(&j, '}');

    if (!ngx_cms_json_fits(&j)) {
        j.pos = ngx_snprintf(buf, sizeof(buf), "{\"outcome\":\"%s\"}",
                             outcome);
    }

#undef ngx_cms_moves_field

    ngx_memzero(&ev, sizeof(ngx_cms_event_t));

    ngx_str_set(&ev.type, "move");
    ev.subject = mr->participant;
    ev.detail.data = buf;
    ev.detail.len = j.pos - buf;
    ev.log = ngx_cms_call_request(call)->connection->log;

    ngx_cms_event_emit((ngx_cycle_t *) ngx_cycle, &ev);
}


/* configuration */

static char *
ngx_cms_moves_roles(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_moves_loc_conf_t  *mlcf = conf;

    ngx_str_t   *value, *r;
    ngx_uint_t   i;

    if (mlcf->roles != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mlcf->roles = ngx_array_create(cf->pool, cf->args->nelts,
                                   sizeof(ngx_str_t));
    if (mlcf->roles == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        r = ngx_array_push(mlcf->roles);
        if (r == NULL) {
            return NGX_CONF_ERROR;
        }

        *r = value[i];
    }

    return NGX_CONF_OK;
}


static void *
ngx_cms_moves_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cms_moves_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_cms_moves_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->roles = NGX_CONF_UNSET_PTR;
    mlcf->check = NGX_CONF_UNSET;
    mlcf->timeout = NGX_CONF_UNSET_MSEC;

    return mlcf;
}


static char *
ngx_cms_moves_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cms_moves_loc_conf_t  *prev = parent;
    ngx_cms_moves_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->roles, prev->roles, NULL);
    ngx_conf_merge_value(conf->check, prev->check, 0);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 3000);
    ngx_conf_merge_str_value(conf->upstream, prev->upstream, "");

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_cms_moves_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cms_plugin_register(cf, &ngx_cms_moves_plugin);
}
