
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
 * placeholder name closes it.  Which slot a space is, which meeting holds
 * it and what a PUT did to it is the slots plugin's to know: it leaves
 * notes on the call ("slot", "meeting", "slot_action").  Without them
 * (the slots plugin is not enabled, or the space is not a slot) the
 * sentence tells what the parameters say.  The sentence only uses what
 * the request, the answer and the notes say; values of secret parameters
 * never appear in it.
 */


#include "ngx_cms_audit.h"


static void ngx_cms_audit_story_subject(ngx_cms_json_t *j,
    ngx_cms_call_t *call);
static void ngx_cms_audit_story_verb(ngx_cms_json_t *j, ngx_uint_t done,
    const char *past, const char *base);
static void ngx_cms_audit_story_str(ngx_cms_json_t *j, ngx_str_t *s);
static void ngx_cms_audit_story_quoted(ngx_cms_json_t *j, ngx_str_t *s);
static void ngx_cms_audit_story_param(ngx_cms_json_t *j,
    ngx_cms_call_t *call, const char *name, const char *fallback);
static void ngx_cms_audit_story_slot(ngx_cms_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_story_generic(ngx_cms_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static void ngx_cms_audit_story_singular(ngx_cms_json_t *j,
    ngx_str_t *coll);
static void ngx_cms_audit_story_param_names(ngx_cms_json_t *j,
    ngx_cms_call_t *call);
static void ngx_cms_audit_story_outcome(ngx_cms_json_t *j,
    ngx_cms_call_t *call, ngx_cms_audit_facts_t *f);
static ngx_cms_audit_op_e ngx_cms_audit_story_op(ngx_str_t *op);
static ngx_uint_t ngx_cms_audit_note_is(ngx_str_t *note, const char *value);
static ngx_uint_t ngx_cms_audit_param_is(ngx_cms_call_t *call,
    const char *name, const char *value);
static ngx_uint_t ngx_cms_audit_value_is(ngx_cms_param_t *p,
    const char *value);
static void ngx_cms_audit_action(ngx_str_t *op, ngx_str_t *action);


void
ngx_cms_audit_story_facts(ngx_cms_call_t *call, ngx_cms_audit_facts_t *f)
{
    ngx_str_t        *slot, *meeting, *action;
    ngx_uint_t        status, bridge_status, verdict;
    ngx_cms_param_t  *name, *access;

    /*
     * Done: the bridge answered 2xx.  The client's status is not enough:
     * a client that went away after the bridge had answered 200 is
     * logged as 499, yet the change was made.
     */

    bridge_status = ngx_cms_call_num(call, NGX_CMS_CALL_BRIDGE_STATUS);
    status = bridge_status ? bridge_status
                           : ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);

    verdict = ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT);

    f->done = (verdict != NGX_CMS_VERDICT_DENY
               && status >= 200 && status < 300);

    f->op = ngx_cms_audit_story_op(ngx_cms_call_str(call,
                                                    NGX_CMS_CALL_OPERATION));
    f->story = NGX_CMS_AUDIT_STORY_OTHER;

    /* what the slots plugin knows: the slot, its meeting, the change */

    slot = ngx_cms_note_get(call, "slot");
    meeting = ngx_cms_note_get(call, "meeting");
    action = ngx_cms_note_get(call, "slot_action");

    if (slot) {
        f->slot = *slot;
    }

    if (meeting) {
        f->meeting = *meeting;
    }

    if (f->op != NGX_CMS_AUDIT_OP_SPACE_MODIFY) {
        return;
    }

    name = ngx_cms_param_get(call, "name");

    if (action) {

        if (ngx_cms_audit_note_is(action, "checkout")
            || ngx_cms_audit_note_is(action, "conflict"))
        {
            f->story = NGX_CMS_AUDIT_STORY_SLOT_OPEN;

        } else if (ngx_cms_audit_note_is(action, "extend")) {
            f->story = NGX_CMS_AUDIT_STORY_SLOT_EXTEND;

        } else if (ngx_cms_audit_note_is(action, "checkin")) {
            f->story = NGX_CMS_AUDIT_STORY_SLOT_CLOSE;

            /* the meeting that held the slot until now */
            f->held = f->meeting;
        }
    }

    if (name == NULL) {
        return;
    }

    if (f->meeting.len == 0) {
        f->meeting = name->value;
    }

    if (f->story != NGX_CMS_AUDIT_STORY_OTHER) {
        return;
    }

    /* no word from the slots plugin: what the parameters say */

    access = ngx_cms_param_get(call, "nonMemberAccess");

    if (ngx_cms_audit_value_is(access, "true")) {
        f->story = NGX_CMS_AUDIT_STORY_SLOT_OPEN;

    } else if (ngx_cms_audit_value_is(access, "false")) {
        f->story = NGX_CMS_AUDIT_STORY_SLOT_CLOSE;

        /* TMS closes a slot by giving it its own name back */

        if (f->slot.len == 0) {
            f->slot = name->value;
        }

    } else {
        f->story = NGX_CMS_AUDIT_STORY_RENAME;
    }
}


void
ngx_cms_audit_story_summary(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_str_t   *call_id, *object_id, *location_id;
    ngx_uint_t   done;

    done = f->done;

    call_id = ngx_cms_call_str(call, NGX_CMS_CALL_CALL_ID);
    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);
    location_id = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);

    ngx_cms_json_string_begin(j);

    ngx_cms_audit_story_subject(j, call);

    if (!done) {
        ngx_cms_json_string_lit(j, "tried to ");
    }

    if (f->story != NGX_CMS_AUDIT_STORY_OTHER) {
        ngx_cms_audit_story_slot(j, call, f);

    } else if (f->op == NGX_CMS_AUDIT_OP_CALL_CREATE) {

        ngx_cms_audit_story_verb(j, done, "created call", "create a call");

        /* a bridge that answered 200 without a Location still created
         * something: say that its id is unknown rather than leave a gap */

        if (done) {
            ngx_cms_json_string_lit(j, " ");

            if (location_id->len) {
                ngx_cms_audit_story_str(j, location_id);

            } else {
                ngx_cms_json_string_lit(j, "(no id returned)");
            }
        }

        ngx_cms_json_string_lit(j, " in ");

        if (f->meeting.len) {
            ngx_cms_audit_story_quoted(j, &f->meeting);
            ngx_cms_json_string_lit(j, " (coSpace ");
            ngx_cms_audit_story_param(j, call, "coSpace", "?");
            ngx_cms_json_string_lit(j, ")");

        } else {
            ngx_cms_json_string_lit(j, "coSpace ");
            ngx_cms_audit_story_param(j, call, "coSpace", "?");
        }

    } else if (f->op == NGX_CMS_AUDIT_OP_CALL_DELETE) {
        ngx_cms_audit_story_verb(j, done, "ended", "end");
        ngx_cms_json_string_lit(j, " call ");
        ngx_cms_audit_story_str(j, object_id);

    } else if (f->op == NGX_CMS_AUDIT_OP_LEG_CREATE
               && call_id->len)
    {
        ngx_cms_audit_story_verb(j, done, "dialled", "dial");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_param(j, call, "remoteParty", "(no remoteParty)");
        ngx_cms_json_string_lit(j, " into call ");
        ngx_cms_audit_story_str(j, call_id);

        if (done && location_id->len) {
            ngx_cms_json_string_lit(j, " (callLeg ");
            ngx_cms_audit_story_str(j, location_id);
            ngx_cms_json_string_lit(j, ")");
        }

    } else if (f->op == NGX_CMS_AUDIT_OP_PARTICIPANT_MOVE) {
        ngx_cms_audit_story_verb(j, done, "moved", "move");
        ngx_cms_json_string_lit(j, " participant ");
        ngx_cms_audit_story_param(j, call, "movedParticipant", "?");
        ngx_cms_json_string_lit(j, " into call ");
        ngx_cms_audit_story_str(j, call_id);

        if (done && location_id->len) {
            ngx_cms_json_string_lit(j, ", now participant ");
            ngx_cms_audit_story_str(j, location_id);
        }

    } else if (f->op == NGX_CMS_AUDIT_OP_SET_CREATE) {
        ngx_cms_audit_story_verb(j, done, "defined", "define");
        ngx_cms_json_string_lit(j, " coSpaces ");
        ngx_cms_audit_story_param(j, call, "coSpaceNameMapping", "?");
        ngx_cms_json_string_lit(j, " for index ");
        ngx_cms_audit_story_param(j, call, "startIndex", "?");
        ngx_cms_json_string_lit(j, " to ");
        ngx_cms_audit_story_param(j, call, "endIndex", "?");

        if (done && location_id->len) {
            ngx_cms_json_string_lit(j, " (bulk parameter set ");
            ngx_cms_audit_story_str(j, location_id);
            ngx_cms_json_string_lit(j, ")");
        }

    } else if (f->op == NGX_CMS_AUDIT_OP_SYNC_CREATE) {
        ngx_cms_audit_story_verb(j, done, "synchronised", "synchronise");
        ngx_cms_json_string_lit(j, " bulk parameter set ");
        ngx_cms_audit_story_param(j, call, "cospaceBulkParameterSet", "?");

        if (done && location_id->len) {
            ngx_cms_json_string_lit(j, " (bulk sync ");
            ngx_cms_audit_story_str(j, location_id);
            ngx_cms_json_string_lit(j, ")");
        }

    } else {
        ngx_cms_audit_story_generic(j, call, f);
    }

    ngx_cms_audit_story_outcome(j, call, f);

    ngx_cms_json_string_end(j);
}


static void
ngx_cms_audit_story_slot(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_str_t   *object_id;
    ngx_uint_t   done;

    done = f->done;
    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);

    switch (f->story) {

    case NGX_CMS_AUDIT_STORY_SLOT_OPEN:
        ngx_cms_audit_story_verb(j, done, "opened", "open");

        if (f->slot.len) {
            ngx_cms_json_string_lit(j, " slot ");
            ngx_cms_audit_story_str(j, &f->slot);

        } else {
            ngx_cms_json_string_lit(j, " coSpace ");
            ngx_cms_audit_story_str(j, object_id);
        }

        ngx_cms_json_string_lit(j, " as ");
        ngx_cms_audit_story_quoted(j, &f->meeting);
        return;

    case NGX_CMS_AUDIT_STORY_SLOT_EXTEND:
        ngx_cms_audit_story_verb(j, done, "extended", "extend");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_quoted(j, &f->meeting);

        if (f->slot.len) {
            ngx_cms_json_string_lit(j, " in slot ");
            ngx_cms_audit_story_str(j, &f->slot);

        } else {
            ngx_cms_json_string_lit(j, " (coSpace ");
            ngx_cms_audit_story_str(j, object_id);
            ngx_cms_json_string_lit(j, ")");
        }

        return;

    case NGX_CMS_AUDIT_STORY_SLOT_CLOSE:
        ngx_cms_audit_story_verb(j, done, "closed", "close");

        if (f->slot.len) {
            ngx_cms_json_string_lit(j, " slot ");
            ngx_cms_audit_story_str(j, &f->slot);

        } else {
            ngx_cms_json_string_lit(j, " coSpace ");
            ngx_cms_audit_story_str(j, object_id);
        }

        if (f->held.len
            && (f->held.len != f->slot.len
                || ngx_strncmp(f->held.data, f->slot.data, f->slot.len) != 0))
        {
            ngx_cms_json_string_lit(j, " (was ");
            ngx_cms_audit_story_quoted(j, &f->held);
            ngx_cms_json_string_lit(j, ")");

        } else if (f->slot.len) {
            ngx_cms_json_string_lit(j, " (coSpace ");
            ngx_cms_audit_story_str(j, object_id);
            ngx_cms_json_string_lit(j, ")");
        }

        if (ngx_cms_audit_param_is(call, "regenerateSecret", "true")) {
            ngx_cms_json_string_lit(j, " with a new secret");
        }

        return;

    default: /* NGX_CMS_AUDIT_STORY_RENAME */
        ngx_cms_audit_story_verb(j, done, "renamed", "rename");
        ngx_cms_json_string_lit(j, " coSpace ");
        ngx_cms_audit_story_str(j, object_id);
        ngx_cms_json_string_lit(j, " to ");
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
ngx_cms_audit_story_generic(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    ngx_str_t         action, owner;
    ngx_str_t        *op, *path, *collection, *object_id;
    ngx_str_t        *sub_collection, *sub_id, *location_id;
    ngx_uint_t        done;
    ngx_cms_param_t  *name;

    done = f->done;

    op = ngx_cms_call_str(call, NGX_CMS_CALL_OPERATION);
    path = ngx_cms_call_str(call, NGX_CMS_CALL_PATH);
    collection = ngx_cms_call_str(call, NGX_CMS_CALL_COLLECTION);
    object_id = ngx_cms_call_str(call, NGX_CMS_CALL_OBJECT_ID);
    sub_collection = ngx_cms_call_str(call, NGX_CMS_CALL_SUB_COLLECTION);
    sub_id = ngx_cms_call_str(call, NGX_CMS_CALL_SUB_ID);
    location_id = ngx_cms_call_str(call, NGX_CMS_CALL_LOCATION_ID);

    ngx_cms_audit_action(op, &action);

    owner.data = op->data;
    owner.len = action.len ? (size_t) (action.data - 1 - owner.data) : 0;

    if (!ngx_cms_call_num(call, NGX_CMS_CALL_KNOWN) || owner.len == 0) {
        ngx_cms_audit_story_verb(j, done, "sent", "send");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, ngx_cms_call_str(call, NGX_CMS_CALL_METHOD));
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, path);
        return;
    }

#define ngx_cms_audit_is(s)                                                   \
    (action.len == sizeof(s) - 1                                              \
     && ngx_strncmp(action.data, s, sizeof(s) - 1) == 0)

    if (ngx_cms_audit_is("create")) {
        ngx_cms_audit_story_verb(j, done, "created", "create");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (done && location_id->len) {
            ngx_cms_json_string_lit(j, " ");
            ngx_cms_audit_story_str(j, location_id);
        }

        name = ngx_cms_param_get(call, "name");

        if (name && name->value.len) {
            ngx_cms_json_string_lit(j, " named ");
            ngx_cms_audit_story_quoted(j, &name->value);
        }

    } else if (ngx_cms_audit_is("modify")) {
        ngx_cms_audit_story_verb(j, done, "modified", "modify");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (sub_id->len) {
            ngx_cms_json_string_lit(j, " ");
            ngx_cms_audit_story_str(j, sub_id);

        } else if (object_id->len) {
            ngx_cms_json_string_lit(j, " ");
            ngx_cms_audit_story_str(j, object_id);
        }

        ngx_cms_audit_story_param_names(j, call);

    } else if (ngx_cms_audit_is("delete")) {
        ngx_cms_audit_story_verb(j, done, "deleted", "delete");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, &owner);
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, sub_id->len ? sub_id : object_id);

    } else if (ngx_cms_audit_is("list")) {
        ngx_cms_audit_story_verb(j, done, "listed", "list");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, sub_collection->len ? sub_collection
                                                       : collection);

    } else if (ngx_cms_audit_is("get")) {
        ngx_cms_audit_story_verb(j, done, "read", "read");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, &owner);

        if (sub_id->len) {
            ngx_cms_json_string_lit(j, " ");
            ngx_cms_audit_story_str(j, sub_id);

        } else if (object_id->len && sub_collection->len == 0) {
            ngx_cms_json_string_lit(j, " ");
            ngx_cms_audit_story_str(j, object_id);
        }

        return;

    } else {
        /* modifyAll, deleteAll, actions: the operation says it best */
        ngx_cms_audit_story_verb(j, done, "did", "do");
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, op);
        ngx_cms_json_string_lit(j, " on ");
        ngx_cms_audit_story_str(j, path);
        return;
    }

#undef ngx_cms_audit_is

    /* below an object: "created participant <id> under calls <id>" */

    if (sub_collection->len && object_id->len) {
        ngx_cms_json_string_lit(j, " under ");
        ngx_cms_audit_story_singular(j, collection);
        ngx_cms_json_string_lit(j, " ");
        ngx_cms_audit_story_str(j, object_id);
    }
}


static void
ngx_cms_audit_story_outcome(ngx_cms_json_t *j, ngx_cms_call_t *call,
    ngx_cms_audit_facts_t *f)
{
    u_char      buf[NGX_INT_T_LEN], *p;
    ngx_str_t   s, reason, *rule, *plugin;
    ngx_uint_t  status, bridge_status, client_aborted;

    rule = ngx_cms_call_str(call, NGX_CMS_CALL_RULE);
    plugin = ngx_cms_call_str(call, NGX_CMS_CALL_PLUGIN);
    bridge_status = ngx_cms_call_num(call, NGX_CMS_CALL_BRIDGE_STATUS);
    client_aborted = ngx_cms_call_num(call, NGX_CMS_CALL_CLIENT_ABORTED);

    if (ngx_cms_call_num(call, NGX_CMS_CALL_VERDICT) == NGX_CMS_VERDICT_DENY) {
        ngx_cms_json_string_lit(j, ": denied");

        if (plugin->len) {
            ngx_cms_json_string_lit(j, " by ");
            ngx_cms_audit_story_str(j, plugin);
        }

        if (rule->len) {
            ngx_cms_json_string_lit(j, " rule ");
            ngx_cms_audit_story_str(j, rule);
        }

        reason = *ngx_cms_call_str(call, NGX_CMS_CALL_REASON);

        /*
         * A reason written for the client may name the rule already
         * ("policy rule keep: ..."): the sentence says it once.
         */

        if (rule->len) {
            p = ngx_strnstr(reason.data, (char *) "rule ", reason.len);

            if (p && (size_t) (reason.data + reason.len - p)
                     > 5 + rule->len + 2
                && ngx_strncmp(p + 5, rule->data, rule->len) == 0
                && p[5 + rule->len] == ':'
                && p[5 + rule->len + 1] == ' ')
            {
                p += 5 + rule->len + 2;
                reason.len -= p - reason.data;
                reason.data = p;
            }
        }

        if (reason.len) {
            ngx_cms_json_string_lit(j, " (");
            ngx_cms_audit_story_str(j, &reason);
            ngx_cms_json_string_lit(j, ")");
        }

        return;
    }

    if (f->done) {
        if (client_aborted) {
            ngx_cms_json_string_lit(j, "; the client went away "
                                               "before the answer");
        }

        return;
    }

    if (ngx_cms_call_num(call, NGX_CMS_CALL_UPSTREAM_FAILED)) {
        ngx_cms_json_string_lit(j, ": no bridge answered");
        return;
    }

    if (client_aborted && bridge_status == 0) {
        ngx_cms_json_string_lit(j, ": the client went away before "
                                           "the answer, the outcome is "
                                           "unknown");
        return;
    }

    status = bridge_status ? bridge_status
                           : ngx_cms_call_num(call, NGX_CMS_CALL_STATUS);

    if (status == 0) {
        ngx_cms_json_string_lit(j, ": no answer");
        return;
    }

    s.data = buf;
    s.len = ngx_sprintf(buf, "%ui", status) - buf;

    ngx_cms_json_string_lit(j, ": answered ");
    ngx_cms_audit_story_str(j, &s);
}


static void
ngx_cms_audit_story_subject(ngx_cms_json_t *j, ngx_cms_call_t *call)
{
    ngx_str_t  *user;

    user = ngx_cms_call_str(call, NGX_CMS_CALL_USER);

    if (user->len) {
        ngx_cms_audit_story_str(j, user);

    } else {
        ngx_cms_json_string_lit(j, "anonymous");
    }

    ngx_cms_json_string_lit(j, " ");
}


static void
ngx_cms_audit_story_verb(ngx_cms_json_t *j, ngx_uint_t done,
    const char *past, const char *base)
{
    ngx_cms_json_string_cpart(j, done ? past : base);
}


static void
ngx_cms_audit_story_str(ngx_cms_json_t *j, ngx_str_t *s)
{
    ngx_cms_json_string_part(j, s->data, s->len);
}


static void
ngx_cms_audit_story_quoted(ngx_cms_json_t *j, ngx_str_t *s)
{
    ngx_cms_json_string_lit(j, "\\\"");
    ngx_cms_json_string_part(j, s->data, s->len);
    ngx_cms_json_string_lit(j, "\\\"");
}


static void
ngx_cms_audit_story_param(ngx_cms_json_t *j, ngx_cms_call_t *call,
    const char *name, const char *fallback)
{
    ngx_str_t         n;
    ngx_cms_param_t  *p;

    p = ngx_cms_param_get(call, name);

    if (p == NULL || p->value.len == 0) {
        ngx_cms_json_string_cpart(j, fallback);
        return;
    }

    n = p->name;

    if (ngx_cms_param_is_secret(&n)) {
        ngx_cms_json_string_lit(j, "***");
        return;
    }

    ngx_cms_json_string_part(j, p->value.data, p->value.len);
}


/* "coSpaces" -> "coSpace", "callLegs" -> "callLeg" */

static void
ngx_cms_audit_story_singular(ngx_cms_json_t *j, ngx_str_t *coll)
{
    size_t  len;

    len = coll->len;

    if (len > 1 && coll->data[len - 1] == 's') {
        len--;
    }

    ngx_cms_json_string_part(j, coll->data, len);
}


/* " (name, uri, passcode)": which parameters, never their values */

static void
ngx_cms_audit_story_param_names(ngx_cms_json_t *j, ngx_cms_call_t *call)
{
    ngx_uint_t        i;
    ngx_array_t      *params;
    ngx_cms_param_t  *p;

    params = ngx_cms_call_params(call);

    if (params == NULL || params->nelts == 0) {
        return;
    }

    p = params->elts;

    ngx_cms_json_string_lit(j, " (");

    for (i = 0; i < params->nelts; i++) {
        if (i) {
            ngx_cms_json_string_lit(j, ", ");
        }

        ngx_cms_json_string_part(j, p[i].name.data, p[i].name.len);
    }

    ngx_cms_json_string_lit(j, ")");
}


/* the operations the story tells apart, found once per record */

static ngx_cms_audit_op_e
ngx_cms_audit_story_op(ngx_str_t *op)
{
    ngx_uint_t  i;

    static struct {
        ngx_str_t           name;
        ngx_cms_audit_op_e  op;
    } ops[] = {
        { ngx_string("coSpace.modify"), NGX_CMS_AUDIT_OP_SPACE_MODIFY },
        { ngx_string("call.create"), NGX_CMS_AUDIT_OP_CALL_CREATE },
        { ngx_string("call.delete"), NGX_CMS_AUDIT_OP_CALL_DELETE },
        { ngx_string("callLeg.create"), NGX_CMS_AUDIT_OP_LEG_CREATE },
        { ngx_string("participant.move"), NGX_CMS_AUDIT_OP_PARTICIPANT_MOVE },
        { ngx_string("bulkParameterSet.create"), NGX_CMS_AUDIT_OP_SET_CREATE },
        { ngx_string("bulkSync.create"), NGX_CMS_AUDIT_OP_SYNC_CREATE }
    };

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (op->len == ops[i].name.len
            && ngx_cms_bytes_eq(op->data, ops[i].name.data, op->len))
        {
            return ops[i].op;
        }
    }

    return NGX_CMS_AUDIT_OP_OTHER;
}


static ngx_uint_t
ngx_cms_audit_note_is(ngx_str_t *note, const char *value)
{
    size_t  len;

    len = ngx_strlen(value);

    return note->len == len && ngx_cms_bytes_eq(note->data, value, len);
}


/* parameter values as CMS reads booleans: case-insensitively */

static ngx_uint_t
ngx_cms_audit_param_is(ngx_cms_call_t *call, const char *name,
    const char *value)
{
    return ngx_cms_audit_value_is(ngx_cms_param_get(call, name), value);
}


static ngx_uint_t
ngx_cms_audit_value_is(ngx_cms_param_t *p, const char *value)
{
    size_t  len;

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
