
/*
 * ngx_cms: "cms_auth_basic <file> [realm=<text>]": API users checked
 * against an htpasswd file that is read when the configuration is loaded.
 *
 * Why not nginx's auth_basic: it opens, reads and closes the user file
 * on every request, and runs crypt() on every request.  Schedulers send
 * Basic credentials with every API call (TMS polls, CMM polls each
 * call), so that is a system call trio a request, and with the hashes
 * htpasswd writes ($apr1$: a thousand rounds of MD5; -B: bcrypt) more
 * CPU than the rest of the proxy.  Here the file is read once per
 * configuration (a reload reads it again), and each worker remembers
 * the last password it verified for each user, and the header it came
 * in: the next request with the same credentials is compared byte for
 * byte, in constant time, and different ones go through crypt() again.
 *
 * The file is nginx's: "user:hash[:comment]" lines, '#' comments, and
 * every hash ngx_crypt() knows ({PLAIN}, {SHA}, {SSHA}, $apr1$, and the
 * system's crypt(): $6$, $2b$, ...).
 *
 * A user this check passed is the request's verified user, as one nginx's
 * auth_basic passed (ngx_cms_user.c); a failed check leaves the challenge
 * behind, so under "satisfy any" a client let in by its address has no
 * user.
 */


#include "ngx_cms.h"

#include <ngx_crypt.h>


/* passwords up to this long are remembered; longer ones are crypt()ed */
#define NGX_CMS_AUTH_KNOWN_MAX   128

/* "Basic " and the Base64 of a user and such a password */
#define NGX_CMS_AUTH_HEADER_MAX  256


typedef struct {
    ngx_str_t     user;
    u_char       *hash;             /* NUL-terminated, for ngx_crypt() */
    size_t        known_len;        /* 0: nothing verified yet */
    size_t        header_len;       /* 0: nothing verified yet */
    u_char        known[NGX_CMS_AUTH_KNOWN_MAX];
    u_char        header[NGX_CMS_AUTH_HEADER_MAX];
} ngx_cms_auth_user_t;


struct ngx_cms_auth_s {
    ngx_str_t     file;
    ngx_str_t     challenge;        /* the WWW-Authenticate value */
    ngx_array_t   users;            /* of ngx_cms_auth_user_t */
};


static ngx_int_t ngx_cms_auth_read(ngx_conf_t *cf, ngx_cms_auth_t *auth);
static void ngx_cms_auth_remember(ngx_http_request_t *r,
    ngx_cms_auth_user_t *u, ngx_str_t *passwd);
static ngx_uint_t ngx_cms_auth_same(const u_char *a, const u_char *b,
    size_t len);
static ngx_int_t ngx_cms_auth_refuse(ngx_http_request_t *r,
    ngx_cms_auth_t *auth);


/* cms_auth_basic <file> [realm=<text>] | off; */

char *
ngx_cms_auth_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cms_loc_conf_t  *lcf = conf;

    u_char          *p;
    ngx_str_t       *value, realm;
    ngx_cms_auth_t  *auth;

    if (lcf->auth != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes nothing after \"off\"";
        }

        lcf->auth = NULL;
        return NGX_CONF_OK;
    }

    ngx_str_set(&realm, "ngx_cms");

    if (cf->args->nelts == 3) {
        if (value[2].len <= sizeof("realm=") - 1
            || ngx_strncmp(value[2].data, "realm=", sizeof("realm=") - 1)
               != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"realm=<text>\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        realm.data = value[2].data + sizeof("realm=") - 1;
        realm.len = value[2].len - (sizeof("realm=") - 1);

        /* the realm goes into a quoted header value as it is */

        for (p = realm.data; p < realm.data + realm.len; p++) {
            if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "realm \"%V\" has a quote, a backslash "
                                   "or a control character", &realm);
                return NGX_CONF_ERROR;
            }
        }
    }

    auth = ngx_pcalloc(cf->pool, sizeof(ngx_cms_auth_t));
    if (auth == NULL) {
        return NGX_CONF_ERROR;
    }

    auth->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &auth->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    auth->challenge.len = sizeof("Basic realm=\"\"") - 1 + realm.len;
    auth->challenge.data = ngx_pnalloc(cf->pool, auth->challenge.len);
    if (auth->challenge.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(auth->challenge.data, "Basic realm=\"%V\"", &realm);

    if (ngx_cms_auth_read(cf, auth) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    lcf->auth = auth;

    return NGX_CONF_OK;
}


/*
 * The file, read at configuration time (the master reads it, as it reads
 * the configuration, so the workers' user needs no access to it).
 */

static ngx_int_t
ngx_cms_auth_read(ngx_conf_t *cf, ngx_cms_auth_t *auth)
{
    off_t                 size;
    u_char               *buf, *p, *end, *eol, *last, *colon, *hash_end;
    ssize_t               n;
    ngx_fd_t              fd;
    ngx_uint_t            line, i;
    ngx_file_info_t       fi;
    ngx_cms_auth_user_t  *u, *users;

    fd = ngx_open_file(auth->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &auth->file);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &auth->file);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (size > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "user file \"%V\" is larger than 1m", &auth->file);
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) size + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, (size_t) size);

    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" read %z of %O bytes",
                           &auth->file, n, size);
        goto failed;
    }

    ngx_close_file(fd);

    if (ngx_array_init(&auth->users, cf->pool, 4,
                       sizeof(ngx_cms_auth_user_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    end = buf + size;
    line = 0;

    for (p = buf; p < end; p = eol + 1) {

        line++;

        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        last = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;

        if (p == last || *p == '#') {
            continue;
        }

        colon = ngx_strlchr(p, last, ':');

        if (colon == NULL || colon == p) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "user file \"%V\", line %ui: not "
                               "\"user:hash\"", &auth->file, line);
            return NGX_ERROR;
        }

        /* the hash ends at the next ':' (a comment follows) or the line */

        hash_end = ngx_strlchr(colon + 1, last, ':');
        if (hash_end == NULL) {
            hash_end = last;
        }

        users = auth->users.elts;

        for (i = 0; i < auth->users.nelts; i++) {
            if (users[i].user.len == (size_t) (colon - p)
                && ngx_strncmp(users[i].user.data, p, colon - p) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "user file \"%V\", line %ui: user "
                                   "\"%*s\" again", &auth->file, line,
                                   colon - p, p);
                return NGX_ERROR;
            }
        }

        u = ngx_array_push(&auth->users);
        if (u == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(u, sizeof(ngx_cms_auth_user_t));

        u->user.len = colon - p;
        u->user.data = ngx_pnalloc(cf->pool, colon - p);
        if (u->user.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(u->user.data, p, colon - p);

        u->hash = ngx_pnalloc(cf->pool, hash_end - colon);
        if (u->hash == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(u->hash, colon + 1, hash_end - colon);
    }

    ngx_explicit_memzero(buf, (size_t) size);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


/*
 * The access phase (ngx_cms_user.c calls it, after forgetting any name
 * decoded before): NGX_OK with r->headers_in.user the verified user, or
 * 401 with the challenge.
 *
 * What a worker remembers per user, after a password passed crypt():
 * the Authorization header that carried it, so the next identical header
 * costs neither the Base64 decoding nor a lookup by name; and the
 * password, so the same password sent otherwise (another spelling of the
 * header) costs no crypt().  Both are compared in constant time over
 * their length; anything else goes through crypt() again.
 */

ngx_int_t
ngx_cms_auth_check(ngx_http_request_t *r, ngx_cms_auth_t *auth)
{
    u_char               *pwd, *encrypted;
    size_t                i, len;
    ngx_int_t             rc;
    ngx_str_t            *passwd, *header;
    ngx_cms_auth_user_t  *u, *users;

    users = auth->users.elts;

    if (r->headers_in.authorization) {
        header = &r->headers_in.authorization->value;

        for (i = 0; i < auth->users.nelts; i++) {
            u = &users[i];

            if (u->header_len != 0
                && u->header_len == header->len
                && ngx_cms_auth_same(u->header, header->data, header->len))
            {
                r->headers_in.user = u->user;
                r->headers_in.passwd.data = u->known;
                r->headers_in.passwd.len = u->known_len;
                return NGX_OK;
            }
        }
    }

    rc = ngx_http_auth_basic_user(r);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: no user/password was provided for basic "
                      "authentication");
        return ngx_cms_auth_refuse(r, auth);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    passwd = &r->headers_in.passwd;

    u = NULL;

    for (i = 0; i < auth->users.nelts; i++) {
        if (users[i].user.len == r->headers_in.user.len
            && ngx_memcmp(users[i].user.data, r->headers_in.user.data,
                          r->headers_in.user.len)
               == 0)
        {
            u = &users[i];
            break;
        }
    }

    if (u == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "cms: user \"%V\" was not found in \"%V\"",
                      &r->headers_in.user, &auth->file);
        return ngx_cms_auth_refuse(r, auth);
    }

    len = passwd->len;

    if (u->known_len != 0
        && u->known_len == len
        && ngx_cms_auth_same(u->known, passwd->data, len))
    {
        ngx_cms_auth_remember(r, u, passwd);
        return NGX_OK;
    }

    pwd = ngx_pnalloc(r->pool, len + 1);
    if (pwd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(pwd, passwd->data, len + 1);

    rc = ngx_crypt(r->pool, pwd, u->hash, &encrypted);

    ngx_explicit_memzero(pwd, len);

    if (rc == NGX_OK && ngx_strcmp(encrypted, u->hash) == 0) {
        ngx_cms_auth_remember(r, u, passwd);
        return NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "cms: user \"%V\": password mismatch",
                  &r->headers_in.user);

    return ngx_cms_auth_refuse(r, auth);
}


/* a verified password, and the header it came in, for the next request */

static void
ngx_cms_auth_remember(ngx_http_request_t *r, ngx_cms_auth_user_t *u,
    ngx_str_t *passwd)
{
    ngx_str_t  *header;

    if (passwd->len == 0 || passwd->len > NGX_CMS_AUTH_KNOWN_MAX) {
        return;
    }

    ngx_memcpy(u->known, passwd->data, passwd->len);
    u->known_len = passwd->len;

    header = &r->headers_in.authorization->value;

    if (header->len <= NGX_CMS_AUTH_HEADER_MAX) {
        ngx_memcpy(u->header, header->data, header->len);
        u->header_len = header->len;
    }
}


/* equal bytes, in a time that depends only on len */

static ngx_uint_t
ngx_cms_auth_same(const u_char *a, const u_char *b, size_t len)
{
    size_t    i;
    uint64_t  x, y, diff;

    diff = 0;

    /* eight bytes a step, then the rest */

    for (i = 0; i + 8 <= len; i += 8) {
        ngx_memcpy(&x, a + i, 8);
        ngx_memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }

    for ( /* void */ ; i < len; i++) {
        diff |= a[i] ^ b[i];
    }

    return diff == 0;
}


static ngx_int_t
ngx_cms_auth_refuse(ngx_http_request_t *r, ngx_cms_auth_t *auth)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = auth->challenge;

    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}
