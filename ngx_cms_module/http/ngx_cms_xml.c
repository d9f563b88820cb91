
/*
 * ngx_cms: bridge answers for the response hooks, parsed with the one
 * hardened parse (ngx_cms_xml_read.c), and written back in the shape they
 * came in.
 */


#include "ngx_cms.h"
#include "ngx_cms_xml_shape.h"
#include "ngx_cms_xml.h"

#include <libxml/parser.h>


typedef struct {
    u_char             *shapes;
    size_t              nshapes;
    u_char             *p;          /* output position */
    ngx_uint_t          measure;    /* first pass: only count */
    size_t              len;
} ngx_cms_xml_out_t;


static void ngx_cms_xml_number(xmlNodePtr node, uintptr_t *n);
static void ngx_cms_xml_node(ngx_cms_xml_out_t *out, xmlNodePtr node);
static void ngx_cms_xml_put(ngx_cms_xml_out_t *out, const u_char *s,
    size_t len);
static void ngx_cms_xml_escaped(ngx_cms_xml_out_t *out, const u_char *s,
    ngx_uint_t attr);


static void
ngx_cms_xml_silent(void *ctx, const char *msg, ...)
{
    /* parse errors are reported once, by the caller, not per line */
}


void
ngx_cms_xml_init(void)
{
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, ngx_cms_xml_silent);
}


xmlDocPtr
ngx_cms_xml_parse(ngx_log_t *log, u_char *data, size_t len,
    ngx_uint_t *malformed)
{
    int                 line;
    uintptr_t           n;
    xmlDocPtr           doc;
    ngx_cms_xml_read_e  rc;

    *malformed = 0;

    doc = ngx_cms_xml_read(data, len, &rc, &line);

    if (rc == NGX_CMS_XML_READ_DOCTYPE) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms: bridge answer with a DOCTYPE refused");
        *malformed = 1;
        return NULL;
    }

    if (rc == NGX_CMS_XML_READ_MALFORMED) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "cms: bridge answer is not well-formed XML "
                      "(line %d), passed through untouched", line);
        *malformed = 1;
        return NULL;
    }

    if (doc == NULL) {
        return NULL;
    }

    /* number the elements: new ones added by hooks stay unnumbered */

    n = 0;
    ngx_cms_xml_number(xmlDocGetRootElement(doc), &n);

    return doc;
}


static void
ngx_cms_xml_number(xmlNodePtr node, uintptr_t *n)
{
    for ( /* void */ ; node; node = node->next) {
        if (node->type == XML_ELEMENT_NODE) {
            node->_private = (void *) ++(*n);
            ngx_cms_xml_number(node->children, n);
        }
    }
}


/*
 * Writes the document back: the original prolog and epilog byte for
 * byte, each original element in its original shape.
 */

ngx_int_t
ngx_cms_xml_serialize(ngx_pool_t *pool, xmlDocPtr doc, u_char *original,
    size_t len, ngx_str_t *out)
{
    u_char             *shapes;
    size_t              nshapes, prolog, epilog;
    xmlNodePtr          root;
    ngx_cms_xml_out_t   o;

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        return NGX_ERROR;
    }

    shapes = ngx_pnalloc(pool, len);
    if (shapes == NULL) {
        return NGX_ERROR;
    }

    if (ngx_cms_xml_scan_shapes(original, len, shapes, len, &nshapes,
                                &prolog, &epilog)
        != 0)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_cms_xml_out_t));
    o.shapes = shapes;
    o.nshapes = nshapes;
    o.measure = 1;

    ngx_cms_xml_node(&o, root);

    out->data = ngx_pnalloc(pool, prolog + o.len + (len - epilog));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    o.measure = 0;
    o.p = ngx_cpymem(out->data, original, prolog);

    ngx_cms_xml_node(&o, root);

    o.p = ngx_cpymem(o.p, original + epilog, len - epilog);
    out->len = o.p - out->data;

    return NGX_OK;
}


static void
ngx_cms_xml_node(ngx_cms_xml_out_t *out, xmlNodePtr node)
{
    u_char      shape;
    uintptr_t   index;
    xmlNsPtr    ns;
    xmlAttrPtr  attr;
    xmlNodePtr  child;

    switch (node->type) {

    case XML_TEXT_NODE:
        ngx_cms_xml_escaped(out, node->content, 0);
        return;

    case XML_CDATA_SECTION_NODE:
        ngx_cms_xml_put(out, (u_char *) "<![CDATA[", 9);
        ngx_cms_xml_put(out, node->content, ngx_strlen(node->content));
        ngx_cms_xml_put(out, (u_char *) "]]>", 3);
        return;

    case XML_COMMENT_NODE:
        ngx_cms_xml_put(out, (u_char *) "<!--", 4);
        ngx_cms_xml_put(out, node->content, ngx_strlen(node->content));
        ngx_cms_xml_put(out, (u_char *) "-->", 3);
        return;

    case XML_PI_NODE:
        ngx_cms_xml_put(out, (u_char *) "<?", 2);
        ngx_cms_xml_put(out, node->name, ngx_strlen(node->name));

        if (node->content) {
            ngx_cms_xml_put(out, (u_char *) " ", 1);
            ngx_cms_xml_put(out, node->content, ngx_strlen(node->content));
        }

        ngx_cms_xml_put(out, (u_char *) "?>", 2);
        return;

    case XML_ELEMENT_NODE:
        break;

    default:
        return;
    }

    ngx_cms_xml_put(out, (u_char *) "<", 1);

    if (node->ns && node->ns->prefix) {
        ngx_cms_xml_put(out, node->ns->prefix, ngx_strlen(node->ns->prefix));
        ngx_cms_xml_put(out, (u_char *) ":", 1);
    }

    ngx_cms_xml_put(out, node->name, ngx_strlen(node->name));

    for (ns = node->nsDef; ns; ns = ns->next) {
        ngx_cms_xml_put(out, (u_char *) " xmlns", 6);

        if (ns->prefix) {
            ngx_cms_xml_put(out, (u_char *) ":", 1);
            ngx_cms_xml_put(out, ns->prefix, ngx_strlen(ns->prefix));
        }

        ngx_cms_xml_put(out, (u_char *) "=\"", 2);
        ngx_cms_xml_escaped(out, ns->href, 1);
        ngx_cms_xml_put(out, (u_char *) "\"", 1);
    }

    for (attr = node->properties; attr; attr = attr->next) {
        ngx_cms_xml_put(out, (u_char *) " ", 1);

        if (attr->ns && attr->ns->prefix) {
            ngx_cms_xml_put(out, attr->ns->prefix,
                            ngx_strlen(attr->ns->prefix));
            ngx_cms_xml_put(out, (u_char *) ":", 1);
        }

        ngx_cms_xml_put(out, attr->name, ngx_strlen(attr->name));
        ngx_cms_xml_put(out, (u_char *) "=\"", 2);

        for (child = attr->children; child; child = child->next) {
            if (child->content) {
                ngx_cms_xml_escaped(out, child->content, 1);
            }
        }

        ngx_cms_xml_put(out, (u_char *) "\"", 1);
    }

    index = (uintptr_t) node->_private;
    shape = (index && index <= out->nshapes) ? out->shapes[index - 1] : 0;

    if (node->children == NULL && (shape & NGX_CMS_XML_SELF_CLOSED)) {
        if (shape & NGX_CMS_XML_SPACE_SLASH) {
            ngx_cms_xml_put(out, (u_char *) " />", 3);

        } else {
            ngx_cms_xml_put(out, (u_char *) "/>", 2);
        }

        return;
    }

    ngx_cms_xml_put(out, (u_char *) ">", 1);

    for (child = node->children; child; child = child->next) {
        ngx_cms_xml_node(out, child);
    }

    ngx_cms_xml_put(out, (u_char *) "</", 2);

    if (node->ns && node->ns->prefix) {
        ngx_cms_xml_put(out, node->ns->prefix, ngx_strlen(node->ns->prefix));
        ngx_cms_xml_put(out, (u_char *) ":", 1);
    }

    ngx_cms_xml_put(out, node->name, ngx_strlen(node->name));
    ngx_cms_xml_put(out, (u_char *) ">", 1);
}


static void
ngx_cms_xml_put(ngx_cms_xml_out_t *out, const u_char *s, size_t len)
{
    if (out->measure) {
        out->len += len;
        return;
    }

    out->p = ngx_cpymem(out->p, s, len);
}


static void
ngx_cms_xml_escaped(ngx_cms_xml_out_t *out, const u_char *s, ngx_uint_t attr)
{
    const u_char  *p;

    if (s == NULL) {
        return;
    }

    for (p = s; *p; p++) {
        switch (*p) {

        case '&':
            ngx_cms_xml_put(out, (u_char *) "&amp;", 5);
            break;

        case '<':
            ngx_cms_xml_put(out, (u_char *) "&lt;", 4);
            break;

        case '>':
            ngx_cms_xml_put(out, (u_char *) "&gt;", 4);
            break;

        case '"':
            if (attr) {
                ngx_cms_xml_put(out, (u_char *) "&quot;", 6);
                break;
            }

            /* fall through */

        default:
            ngx_cms_xml_put(out, p, 1);
        }
    }
}
