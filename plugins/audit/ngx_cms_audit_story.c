
/*
 * ngx_cms audit: what a call did, in words.
 *
 * The "summary" of a record is one sentence an operator can read down a
 * file to follow a TMS session: "admin opened slot TMS_Scheduled_Meeting_1
 * as "Weekly"", "admin created call <id> in "Weekly" (coSpace <id>)",
 * "admin closed slot TMS_Scheduled_Meeting_1 (was "Weekly")".  A call that
 * did not happen says so: "admin tried to ...: denied by policy rule ...",
 * "...: no bridge answered", "...: the client went away before the
 * answer, the outcome is unknown".
 *
 * Slots follow the TMS flow (cms-api-notes 1.14): a PUT to a coSpace with
 * nonMemberAccess=true and a name opens the slot for a meeting, the same
 * PUT again extends it, a PUT with nonMemberAccess=false and the
 * placeholder name closes it.  The sentence only uses what the request,
 * the answer and the names cache say; values of secret parameters never
 * appear in it.
 */


#include "ngx_cms_audit.h"


static void ngx_cms_audit_story_subject(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call);
static void ngx_cms_audit_story_verb(ngx_cms_audit_json_t *j, ngx_uint_t done,
    const char *past, const char *base);
static void ngx_cms_audit_story_str(ngx_cms_audit_json_t *j, ngx_str_t *s);
static void ngx_cms_audit_story_quoted(ngx_cms_audit_json_t *j, ngx_str_t *s);
static void ngx_cms_audit_story_param(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call, const char *name, const char *fallback);
static void ngx_cms_audit_story_slot(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_story_generic(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_story_singular(ngx_cms_audit_json_t *j,
    ngx_str_t *coll);
static void ngx_cms_audit_story_param_names(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call);
static void ngx_cms_audit_story_outcome(ngx_cms_audit_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static ngx_uint_t ngx_cms_audit_op_is(ngx_cms_call_t *call, const char *op);
static ngx_uint_t ngx_cms_audit_param_is(ngx_cms_call_t *call,
    const char *name, const char *value);
static void ngx_cms_audit_action(ngx_str_t *op, ngx_str_t *action);


void
ngx_cms_audit_story_facts(ngx_cms_call_t *call, ngx_cms_audit_facts_t *f)
{
    ngx_uint_t        status;
    ngx_str_t         slot;
    ngx_cms_param_t  *name, *space;

    /*
     * Done: the bridge answered 2xx.  The client's status is not enough:
     * a client that went away after the bridge had answered 200 is
     * logged as 499, yet the change was made.
     */

    status = f->bridge_status ? f->bridge_status : call->status;

    f->done = (call->verdict != NGX_CMS_VERDICT_DENY
               && status >= 200 && status < 300);

    f->story = NGX_CMS_AUDIT_STORY_OTHER;

    if (ngx_cms_audit_op_is(call, "coSpace.modify")) {

        name = ngx_cms_param_get(call, "name");
        if (name == NULL) {
            return;
        }

        f->meeting = name->value;

        (void) ngx_cms_audit_names_get(&call->object_id, &f->old_name, &slot);

        if (ngx_cms_audit_param_is(call, "nonMemberAccess", "true")) {

            if (f->old_name.len == name->value.len
                && ngx_strncmp(f->old_name.data, name->value.data,
                               name->value.len) == 0)
            {
                f->story = NGX_CMS_AUDIT_STORY_SLOT_EXTEND;
                f->slot = slot;

            } else {
                f->story = NGX_CMS_AUDIT_STORY_SLOT_OPEN;

                /* a slot is opened by renaming it: its name is the old one */
                f->slot = f->old_name;
            }

        } else if (ngx_cms_audit_param_is(call, "nonMemberAccess", "false")) {
            f->story = NGX_CMS_AUDIT_STORY_SLOT_CLOSE;
            f->slot = name->value;

        } else {
            f->story = NGX_CMS_AUDIT_STORY_RENAME;
        }

        return;
    }

    if (ngx_cms_audit_op_is(call, "call.create")) {
        space = ngx_cms_param_get(call, "coSpace");

        if (space) {
            (void) ngx_cms_audit_names_get(&space->value, &f->space_name,
                                           &slot);
        }
    }
}


/* what the cache learns from a call, once its record is written */

void
ngx_cms_audit_story_learn(ngx_cms_call_t *call, ngx_cms_audit_facts_t *f,
    ngx_log_t *log)
{
    ngx_str_t         slot;
    ngx_cms_param_t  *name;

    if (!f->done) {
        return;
    }

    if (ngx_cms_audit_op_is(call, "coSpace.delete")) {
        ngx_cms_audit_names_forget(&call->object_id);
        return;
    }

    if (ngx_cms_audit_op_is(call, "coSpace.create")) {
        name = ngx_cms_param_get(call, "name");

        if (name && f->location_id.len) {
            ngx_cms_audit_names_set(&f->location_id, &name->value, NULL,
                                    log);
        }

        return;
    }

    switch (f->story) {

    case NGX_CMS_AUDIT_STORY_SLOT_OPEN:
    case NGX_CMS_AUDIT_STORY_SLOT_CLOSE:

        /* copied: f->slot may point into the entry being written */

        slot.len = f->slot.len;
        slot.data = ngx_pnalloc(call->request->pool, slot.len + 1);
        if (slot.data == NULL) {
            return;
        }

        ngx_memcpy(slot.data, f->slot.data, slot.len);

        ngx_cms_audit_names_set(&call->object_id, &f->meeting,
                                slot.len ? &slot : NULL, log);
        return;

    case NGX_CMS_AUDIT_STORY_RENAME:
        ngx_cms_audit_names_set(&call->object_id, &f->meeting, NULL, log);
        return;

    default:
        return;
    }
}


ngx_uint_t
ngx_cms_audit_story_wants_response(ngx_cms_call_t *call)
{
    return ngx_cms_audit_op_is(call, "coSpace.list")
           || ngx_cms_audit_op_is(call, "coSpace.get");
}


/*
 * <coSpaces total="n"><coSpace id="..."><name>...</name>...</coSpace>...
 * or a single <coSpace id="...">: the names the bridge has now.
 */

void
ngx_cms_audit_story_learn_response(ngx_cms_call_t *call, ngx_log_t *log)
{
    xmlChar    *id, *text;
    ngx_str_t   sid, sname;
    xmlDocPtr   doc;
    xmlNodePtr  root, node, child;

    if (call->status != NGX_HTTP_OK) {
        return;
    }

    doc = ngx_cms_response_xml(call);
    if (doc == NULL) {
        return;
    }

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        return;
    }

    if (xmlStrcmp(root->name, (const xmlChar *) "coSpace") == 0) {
        node = root;

    } else if (xmlStrcmp(root->name, (const xmlChar *) "coSpaces") == 0) {
        node = root->children;

    } else {
        return;
    }

    for ( /* void */ ; node; node = (node == root) ? NULL : node->next) {

        if (node->type != XML_ELEMENT_NODE
            || xmlStrcmp(node->name, (const xmlChar *) "coSpace") != 0)
        {
            continue;
        }

        for (child = node->children; child; child = child->next) {
            if (child->type == XML_ELEMENT_NODE
                && xmlStrcmp(child->name, (const xmlChar *) "name") == 0)
            {
                break;
            }
        }

        if (child == NULL) {
            continue;
        }

        id = xmlGetProp(node, (const xmlChar *) "id");
        text = xmlNodeGetContent(child);

        if (id && text) {
            sid.data = id;
            sid.len = ngx_strlen(id);
            sname.data = text;
            sname.len = ngx_strlen(text);

            ngx_cms_audit_names_set(&sid, &sname, NULL, log);
        }

        if (id) {
            xmlFree(id);
        }

        if (text) {
            xmlFree(text);
        }
    }
}


void
ngx_cms_audit_story_summary(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_uint_t  done;

    done = f->done;

    ngx_cms_audit_json_string_begin(j);

    ngx_cms_audit_story_subject(j, call);

    if (!done) {
        ngx_cms_audit_json_string_cpart(j, "tried to ");
    }

    if (f->story != NGX_CMS_AUDIT_STORY_OTHER) {
        ngx_cms_audit_story_slot(j, call, f);

    } else if (ngx_cms_audit_op_is(call, "call.create")) {

        ngx_cms_audit_story_verb(j, done, "created call ", "create a call");

        if (done && f->location_id.len) {
            ngx_cms_audit_story_str(j, &f->location_id);
        }

        ngx_cms_audit_json_string_cpart(j, " in ");

        if (f->space_name.len) {
            ngx_cms_audit_story_quoted(j, &f->space_name);
            ngx_cms_audit_json_string_cpart(j, " (coSpace ");
            ngx_cms_audit_story_param(j, call, "coSpace", "?");
            ngx_cms_audit_json_string_cpart(j, ")");

        } else {
            ngx_cms_audit_json_string_cpart(j, "coSpace ");
            ngx_cms_audit_story_param(j, call, "coSpace", "?");
        }

    } else if (ngx_cms_audit_op_is(call, "call.delete")) {
        ngx_cms_audit_story_verb(j, done, "ended", "end");
        ngx_cms_audit_json_string_cpart(j, " call ");
        ngx_cms_audit_story_str(j, &call->object_id);

    } else if (ngx_cms_audit_op_is(call, "callLeg.create")
               && call->call_id.len)
    {
        ngx_cms_audit_story_verb(j, done, "dialled", "dial");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_param(j, call, "remoteParty", "(no remoteParty)");
        ngx_cms_audit_json_string_cpart(j, " into call ");
        ngx_cms_audit_story_str(j, &call->call_id);

        if (done && f->location_id.len) {
            ngx_cms_audit_json_string_cpart(j, " (callLeg ");
            ngx_cms_audit_story_str(j, &f->location_id);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

    } else if (ngx_cms_audit_op_is(call, "participant.move")) {
        ngx_cms_audit_story_verb(j, done, "moved", "move");
        ngx_cms_audit_json_string_cpart(j, " participant ");
        ngx_cms_audit_story_param(j, call, "movedParticipant", "?");
        ngx_cms_audit_json_string_cpart(j, " into call ");
        ngx_cms_audit_story_str(j, &call->call_id);

        if (done && f->location_id.len) {
            ngx_cms_audit_json_string_cpart(j, ", now participant ");
            ngx_cms_audit_story_str(j, &f->location_id);
        }

    } else if (ngx_cms_audit_op_is(call, "bulkParameterSet.create")) {
        ngx_cms_audit_story_verb(j, done, "defined", "define");
        ngx_cms_audit_json_string_cpart(j, " coSpaces ");
        ngx_cms_audit_story_param(j, call, "coSpaceNameMapping", "?");
        ngx_cms_audit_json_string_cpart(j, " for index ");
        ngx_cms_audit_story_param(j, call, "startIndex", "?");
        ngx_cms_audit_json_string_cpart(j, " to ");
        ngx_cms_audit_story_param(j, call, "endIndex", "?");

        if (done && f->location_id.len) {
            ngx_cms_audit_json_string_cpart(j, " (bulk parameter set ");
            ngx_cms_audit_story_str(j, &f->location_id);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

    } else if (ngx_cms_audit_op_is(call, "bulkSync.create")) {
        ngx_cms_audit_story_verb(j, done, "synchronised", "synchronise");
        ngx_cms_audit_json_string_cpart(j, " bulk parameter set ");
        ngx_cms_audit_story_param(j, call, "cospaceBulkParameterSet", "?");

        if (done && f->location_id.len) {
            ngx_cms_audit_json_string_cpart(j, " (bulk sync ");
            ngx_cms_audit_story_str(j, &f->location_id);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

    } else {
        ngx_cms_audit_story_generic(j, call, f);
    }

    ngx_cms_audit_story_outcome(j, call, f);

    ngx_cms_audit_json_string_end(j);
}


static void
ngx_cms_audit_story_slot(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_uint_t  done;

    done = f->done;

    switch (f->story) {

    case NGX_CMS_AUDIT_STORY_SLOT_OPEN:
        ngx_cms_audit_story_verb(j, done, "opened", "open");

        if (f->slot.len) {
            ngx_cms_audit_json_string_cpart(j, " slot ");
            ngx_cms_audit_story_str(j, &f->slot);

        } else {
            ngx_cms_audit_json_string_cpart(j, " coSpace ");
            ngx_cms_audit_story_str(j, &call->object_id);
        }

        ngx_cms_audit_json_string_cpart(j, " as ");
        ngx_cms_audit_story_quoted(j, &f->meeting);
        return;

    case NGX_CMS_AUDIT_STORY_SLOT_EXTEND:
        ngx_cms_audit_story_verb(j, done, "extended", "extend");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_quoted(j, &f->meeting);

        if (f->slot.len) {
            ngx_cms_audit_json_string_cpart(j, " in slot ");
            ngx_cms_audit_story_str(j, &f->slot);

        } else {
            ngx_cms_audit_json_string_cpart(j, " (coSpace ");
            ngx_cms_audit_story_str(j, &call->object_id);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

        return;

    case NGX_CMS_AUDIT_STORY_SLOT_CLOSE:
        ngx_cms_audit_story_verb(j, done, "closed", "close");
        ngx_cms_audit_json_string_cpart(j, " slot ");
        ngx_cms_audit_story_str(j, &f->meeting);

        if (f->old_name.len
            && (f->old_name.len != f->meeting.len
                || ngx_strncmp(f->old_name.data, f->meeting.data,
                               f->meeting.len) != 0))
        {
            ngx_cms_audit_json_string_cpart(j, " (was ");
            ngx_cms_audit_story_quoted(j, &f->old_name);
            ngx_cms_audit_json_string_cpart(j, ")");

        } else {
            ngx_cms_audit_json_string_cpart(j, " (coSpace ");
            ngx_cms_audit_story_str(j, &call->object_id);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

        if (ngx_cms_audit_param_is(call, "regenerateSecret", "true")) {
            ngx_cms_audit_json_string_cpart(j, " with a new secret");
        }

        return;

    default: /* NGX_CMS_AUDIT_STORY_RENAME */
        ngx_cms_audit_story_verb(j, done, "renamed", "rename");
        ngx_cms_audit_json_string_cpart(j, " coSpace ");

        if (f->old_name.len) {
            ngx_cms_audit_story_quoted(j, &f->old_name);
            ngx_cms_audit_json_string_cpart(j, " (");
            ngx_cms_audit_story_str(j, &call->object_id);
            ngx_cms_audit_json_string_cpart(j, ")");

        } else {
            ngx_cms_audit_story_str(j, &call->object_id);
        }

        ngx_cms_audit_json_string_cpart(j, " to ");
        ngx_cms_audit_story_quoted(j, &f->meeting);
        return;
    }
}


/*
 * Everything else, from the operation's action: "created callProfile
 * <id>", "modified callLegProfile <id> (defaultLayout, ...)", "deleted
 * coSpace <id>", "listed coSpaces", "read system.status".
 */

static void
ngx_cms_audit_story_generic(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_str_t         action, owner;
    ngx_uint_t        done;
    ngx_cms_param_t  *name;

    done = f->done;

    ngx_cms_audit_action(&call->operation, &action);

    owner.data = call->operation.data;
    owner.len = action.len ? (size_t) (action.data - 1 - owner.data) : 0;

    if (!call->known || owner.len == 0) {
        ngx_cms_audit_story_verb(j, done, "sent", "send");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &call->method);
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &call->path);
        return;
    }

#define ngx_cms_audit_is(s)                                                   \
    (action.len == sizeof(s) - 1                                              \
     && ngx_strncmp(action.data, s, sizeof(s) - 1) == 0)

    if (ngx_cms_audit_is("create")) {
        ngx_cms_audit_story_verb(j, done, "created", "create");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (done && f->location_id.len) {
            ngx_cms_audit_json_string_cpart(j, " ");
            ngx_cms_audit_story_str(j, &f->location_id);
        }

        name = ngx_cms_param_get(call, "name");

        if (name && name->value.len) {
            ngx_cms_audit_json_string_cpart(j, " named ");
            ngx_cms_audit_story_quoted(j, &name->value);
        }

    } else if (ngx_cms_audit_is("modify")) {
        ngx_cms_audit_story_verb(j, done, "modified", "modify");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (call->sub_id.len) {
            ngx_cms_audit_json_string_cpart(j, " ");
            ngx_cms_audit_story_str(j, &call->sub_id);

        } else if (call->object_id.len) {
            ngx_cms_audit_json_string_cpart(j, " ");
            ngx_cms_audit_story_str(j, &call->object_id);
        }

        ngx_cms_audit_story_param_names(j, call);

    } else if (ngx_cms_audit_is("delete")) {
        ngx_cms_audit_story_verb(j, done, "deleted", "delete");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &owner);
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, call->sub_id.len ? &call->sub_id
                                                    : &call->object_id);

    } else if (ngx_cms_audit_is("list")) {
        ngx_cms_audit_story_verb(j, done, "listed", "list");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, call->sub_collection.len
                                   ? &call->sub_collection
                                   : &call->collection);

    } else if (ngx_cms_audit_is("get")) {
        ngx_cms_audit_story_verb(j, done, "read", "read");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (call->sub_id.len) {
            ngx_cms_audit_json_string_cpart(j, " ");
            ngx_cms_audit_story_str(j, &call->sub_id);

        } else if (call->object_id.len && call->sub_collection.len == 0) {
            ngx_cms_audit_json_string_cpart(j, " ");
            ngx_cms_audit_story_str(j, &call->object_id);
        }

        return;

    } else {
        /* modifyAll, deleteAll, actions: the operation says it best */
        ngx_cms_audit_story_verb(j, done, "did", "do");
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &call->operation);
        ngx_cms_audit_json_string_cpart(j, " on ");
        ngx_cms_audit_story_str(j, &call->path);
        return;
    }

#undef ngx_cms_audit_is

    /* below an object: "created participant <id> under calls <id>" */

    if (call->sub_collection.len && call->object_id.len) {
        ngx_cms_audit_json_string_cpart(j, " under ");
        ngx_cms_audit_story_singular(j, &call->collection);
        ngx_cms_audit_json_string_cpart(j, " ");
        ngx_cms_audit_story_str(j, &call->object_id);
    }
}


static void
ngx_cms_audit_story_outcome(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    u_char      buf[NGX_INT_T_LEN], *p;
    ngx_str_t   s, reason;
    ngx_uint_t  status;

    if (call->verdict == NGX_CMS_VERDICT_DENY) {
        ngx_cms_audit_json_string_cpart(j, ": denied");

        if (call->plugin.len) {
            ngx_cms_audit_json_string_cpart(j, " by ");
            ngx_cms_audit_story_str(j, &call->plugin);
        }

        if (call->rule.len) {
            ngx_cms_audit_json_string_cpart(j, " rule ");
            ngx_cms_audit_story_str(j, &call->rule);
        }

        reason = call->reason;

        /*
         * A reason written for the client may name the rule already
         * ("policy rule keep: ..."): the sentence says it once.
         */

        if (call->rule.len) {
            p = ngx_strnstr(reason.data, (char *) "rule ", reason.len);

            if (p && (size_t) (reason.data + reason.len - p)
                     > 5 + call->rule.len + 2
                && ngx_strncmp(p + 5, call->rule.data, call->rule.len) == 0
                && p[5 + call->rule.len] == ':'
                && p[5 + call->rule.len + 1] == ' ')
            {
                p += 5 + call->rule.len + 2;
                reason.len -= p - reason.data;
                reason.data = p;
            }
        }

        if (reason.len) {
            ngx_cms_audit_json_string_cpart(j, " (");
            ngx_cms_audit_story_str(j, &reason);
            ngx_cms_audit_json_string_cpart(j, ")");
        }

        return;
    }

    if (f->done) {
        if (call->client_aborted) {
            ngx_cms_audit_json_string_cpart(j, "; the client went away "
                                               "before the answer");
        }

        return;
    }

    if (f->upstream_failed) {
        ngx_cms_audit_json_string_cpart(j, ": no bridge answered");
        return;
    }

    if (call->client_aborted && f->bridge_status == 0) {
        ngx_cms_audit_json_string_cpart(j, ": the client went away before "
                                           "the answer, the outcome is "
                                           "unknown");
        return;
    }

    status = f->bridge_status ? f->bridge_status : call->status;

    if (status == 0) {
        ngx_cms_audit_json_string_cpart(j, ": no answer");
        return;
    }

    s.data = buf;
    s.len = ngx_sprintf(buf, "%ui", status) - buf;

    ngx_cms_audit_json_string_cpart(j, ": answered ");
    ngx_cms_audit_story_str(j, &s);
}


static void
ngx_cms_audit_story_subject(ngx_cms_audit_json_t *j, ngx_cms_call_t *call)
{
    if (call->user.len) {
        ngx_cms_audit_story_str(j, &call->user);

    } else {
        ngx_cms_audit_json_string_cpart(j, "anonymous");
    }

    ngx_cms_audit_json_string_cpart(j, " ");
}


static void
ngx_cms_audit_story_verb(ngx_cms_audit_json_t *j, ngx_uint_t done,
    const char *past, const char *base)
{
    ngx_cms_audit_json_string_cpart(j, done ? past : base);
}


static void
ngx_cms_audit_story_str(ngx_cms_audit_json_t *j, ngx_str_t *s)
{
    ngx_cms_audit_json_string_part(j, s->data, s->len);
}


static void
ngx_cms_audit_story_quoted(ngx_cms_audit_json_t *j, ngx_str_t *s)
{
    ngx_cms_audit_json_string_cpart(j, "\"");
    ngx_cms_audit_json_string_part(j, s->data, s->len);
    ngx_cms_audit_json_string_cpart(j, "\"");
}


static void
ngx_cms_audit_story_param(ngx_cms_audit_json_t *j, ngx_cms_call_t *call,
    const char *name, const char *fallback)
{
    ngx_str_t         n;
    ngx_cms_param_t  *p;

    p = ngx_cms_param_get(call, name);

    if (p == NULL || p->value.len == 0) {
        ngx_cms_audit_json_string_cpart(j, fallback);
        return;
    }

    n = p->name;

    if (ngx_cms_param_is_secret(&n)) {
        ngx_cms_audit_json_string_cpart(j, "***");
        return;
    }

    ngx_cms_audit_json_string_part(j, p->value.data, p->value.len);
}


/* "coSpaces" -> "coSpace", "callLegs" -> "callLeg" */

static void
ngx_cms_audit_story_singular(ngx_cms_audit_json_t *j, ngx_str_t *coll)
{
    size_t  len;

    len = coll->len;

    if (len > 1 && coll->data[len - 1] == 's') {
        len--;
    }

    ngx_cms_audit_json_string_part(j, coll->data, len);
}


/* " (name, uri, passcode)": which parameters, never their values */

static void
ngx_cms_audit_story_param_names(ngx_cms_audit_json_t *j, ngx_cms_call_t *call)
{
    ngx_uint_t        i;
    ngx_cms_param_t  *p;

    if (call->params == NULL || call->params->nelts == 0) {
        return;
    }

    p = call->params->elts;

    ngx_cms_audit_json_string_cpart(j, " (");

    for (i = 0; i < call->params->nelts; i++) {
        if (i) {
            ngx_cms_audit_json_string_cpart(j, ", ");
        }

        ngx_cms_audit_json_string_part(j, p[i].name.data, p[i].name.len);
    }

    ngx_cms_audit_json_string_cpart(j, ")");
}


static ngx_uint_t
ngx_cms_audit_op_is(ngx_cms_call_t *call, const char *op)
{
    size_t  len;

    len = ngx_strlen(op);

    return call->operation.len == len
           && ngx_strncmp(call->operation.data, op, len) == 0;
}


/* parameter values as CMS reads booleans: case-insensitively */

static ngx_uint_t
ngx_cms_audit_param_is(ngx_cms_call_t *call, const char *name,
    const char *value)
{
    size_t            len;
    ngx_cms_param_t  *p;

    p = ngx_cms_param_get(call, name);
    if (p == NULL) {
        return 0;
    }

    len = ngx_strlen(value);

    return p->value.len == len
           && ngx_strncasecmp(p->value.data, (u_char *) value, len) == 0;
}


/* "coSpace.modify" -> "modify"; "system.status.get" -> "get" */

static void
ngx_cms_audit_action(ngx_str_t *op, ngx_str_t *action)
{
    u_char  *p;

    action->len = 0;
    action->data = NULL;

    for (p = op->data + op->len; p > op->data; p--) {
        if (p[-1] == '.') {
            action->data = p;
            action->len = op->data + op->len - p;
            return;
        }
    }
}
