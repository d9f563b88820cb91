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
 * Mode (odd): the same, behind a declaration or byte order mark that
 * names another encoding (chosen by the first byte): the read is UTF-8
 * whatever they say, so a DOCTYPE hidden from a byte-wise check by an
 * encoding (UTF-16, EBCDIC, UTF-7...) must still be refused or never
 * parsed as one.  (Every reader of bridge XML goes through
 * ngx_cms_xml_read(): the slots, moves and recovery plugins included.)
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


static const char  *prologs[] = {
    "",
    "\xef\xbb\xbf",
    "\xff\xfe",
    "\xfe\xff",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-7\"?>",
    "<?xml version=\"1.0\" encoding=\"EBCDIC-US\"?>",
    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
};


static void
read_checked(const uint8_t *text, size_t len)
{
    int                 line;
    xmlDocPtr           doc;
    ngx_cms_xml_read_e  rc;

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
    size_t       len, plen;
    uint8_t     *text;
    const char  *prolog;

    if (size == 0) {
        return 0;
    }

    prolog = (data[0] & 1)
             ? prologs[(data[0] >> 1) % (sizeof(prologs) / sizeof(prologs[0]))]
             : "";
    plen = strlen(prolog);

    len = plen + size - 1;
    text = malloc(len ? len : 1);
    check(text != NULL);
    memcpy(text, prolog, plen);
    memcpy(text + plen, data + 1, size - 1);

    read_checked(text, len);

    free(text);

    return 0;
}
