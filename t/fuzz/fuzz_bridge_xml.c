/*
 * libFuzzer target for the readers of a bridge's XML answers.
 *
 * Mode (first byte, even): ngx_cms_xml_read(), the reader of the
 * response hooks (ngx_cms_xml.c), the health check's <status>, discovery's
 * /callBridges and affinity's listings; the tree is then walked the way
 * those readers walk it (root name, total=, each item's id=, the
 * callBridge child, each child's text).  Checked: a text with a DOCTYPE
 * in any letter case is refused, and a document read has no DTD and no
 * entity reference anywhere: no entity can ever expand.
 *
 * Mode (odd): the options the slot reconciliation and the moves check
 * give xmlReadMemory() (plugins/slots/ngx_cms_slots_bridge.c,
 * plugins/moves), walked likewise: what a hostile bridge could make
 * those readers do (entity expansion, deep trees) shows as a timeout,
 * an out-of-memory or a crash here.
 */


#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ngx_cms_xml.h"


#define check(cond)  if (!(cond)) { abort(); }


static void
quiet(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;
}


static int
has_doctype(const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i + 9 <= len; i++) {
        if (p[i] == '<' && p[i + 1] == '!'
            && strncasecmp((const char *) p + i + 2, "doctype", 7) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
no_entities(xmlNodePtr node, int depth)
{
    for ( /* void */ ; node; node = node->next) {
        check(node->type != XML_ENTITY_REF_NODE);
        check(node->type != XML_ENTITY_DECL);
        check(node->type != XML_DTD_NODE);

        if (depth < 256) {
            no_entities(node->children, depth + 1);
        }
    }
}


/* what the readers do with a tree */

static size_t
walk(xmlDocPtr doc)
{
    size_t      seen;
    xmlChar    *v;
    xmlNodePtr  root, item, c;

    seen = 0;
    root = xmlDocGetRootElement(doc);

    if (root == NULL) {
        return 0;
    }

    (void) xmlStrcmp(root->name, (const xmlChar *) "status");

    v = xmlGetProp(root, (const xmlChar *) "total");
    if (v) {
        seen += xmlStrlen(v);
        xmlFree(v);
    }

    for (item = root->children; item; item = item->next) {
        if (item->type != XML_ELEMENT_NODE) {
            continue;
        }

        v = xmlGetProp(item, (const xmlChar *) "id");
        if (v) {
            seen += xmlStrlen(v);
            xmlFree(v);
        }

        v = xmlNodeGetContent(item);
        if (v) {
            seen += xmlStrlen(v);
            xmlFree(v);
        }

        for (c = item->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE
                && xmlStrcmp(c->name, (const xmlChar *) "callBridge") == 0
                && c->children)
            {
                seen++;
            }
        }
    }

    return seen;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, quiet);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 line;
    uint8_t            *text;
    size_t              len;
    xmlDocPtr           doc;
    ngx_cms_xml_read_e  rc;

    if (size == 0) {
        return 0;
    }

    len = size - 1;
    text = malloc(len ? len : 1);
    check(text != NULL);
    memcpy(text, data + 1, len);

    if ((data[0] & 1) == 0) {
        doc = ngx_cms_xml_read(text, len, &rc, &line);

        check((doc != NULL) == (rc == NGX_CMS_XML_READ_OK));

        if (has_doctype(text, len)) {
            check(rc == NGX_CMS_XML_READ_DOCTYPE);
        }

        if (doc) {
            check(doc->intSubset == NULL && doc->extSubset == NULL);
            no_entities(doc->children, 0);
            (void) walk(doc);
            xmlFreeDoc(doc);
        }

    } else if (len) {
        doc = xmlReadMemory((const char *) text, (int) len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOBLANKS
                            | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

        if (doc) {
            (void) walk(doc);
            xmlFreeDoc(doc);
        }
    }

    free(text);

    return 0;
}
