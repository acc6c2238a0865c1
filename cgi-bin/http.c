/*
 * FastCGI request parsing and JSON responses (RFC 9110 semantics).
 * Parsing works on the CGI parameter array only, so it is testable and
 * fuzzable without a web server.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define BODY_OUT_MAX	(8 * 1024 * 1024)

void
req_init(struct request *r, struct server *srv, char **envp)
{
	memset(r, 0, sizeof(*r));
	r->srv = srv;
	r->envp = envp;
	r->start_us = now_usec();
	r->status = 200;
	r->query = "";
	buf_init(&r->headers, 16384);
	buf_init(&r->out, BODY_OUT_MAX);
}

void
req_free(struct request *r)
{
	free(r->body);
	buf_free(&r->headers);
	buf_free(&r->out);
}

/* Returns the CGI parameter name ("REQUEST_METHOD"), or NULL. */
const char *
req_param(const struct request *r, const char *name)
{
	size_t		 n = strlen(name);
	char		**e;

	if (r->envp == NULL)
		return NULL;
	for (e = r->envp; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/*
 * Returns the request header ("X-API-Key") or NULL; CGI passes it as
 * HTTP_X_API_KEY.
 */
const char *
req_header(const struct request *r, const char *header)
{
	char	 name[128];
	size_t	 i;

	if (strlen(header) + 6 > sizeof(name))
		return NULL;
	memcpy(name, "HTTP_", 5);
	for (i = 0; header[i] != '\0'; i++)
		name[5 + i] = header[i] == '-' ? '_' :
		    (char)toupper((unsigned char)header[i]);
	name[5 + i] = '\0';
	return req_param(r, name);
}

/* Adds the sizes of all parameters: what the web server sent as headers. */
size_t
http_params_size(char **envp)
{
	size_t	 n = 0;

	for (; envp != NULL && *envp != NULL; envp++)
		n += strlen(*envp) + 1;
	return n;
}

/*
 * Splits REQUEST_URI into a path (copied into path) and the query string.
 * Returns 0, -1 when the path is not absolute or contains a NUL escape or
 * control characters, -2 when it is longer than n - 1.
 */
int
http_path_from_uri(const char *uri, char *path, size_t n, const char **query)
{
	const char	*q = strchr(uri, '?');
	size_t		 len = q != NULL ? (size_t)(q - uri) : strlen(uri), i;

	*query = q != NULL ? q + 1 : "";
	if (len == 0 || uri[0] != '/')
		return -1;
	if (len >= n)
		return -2;
	for (i = 0; i < len; i++)
		if ((unsigned char)uri[i] < 0x21 || uri[i] == 0x7f)
			return -1;
	memcpy(path, uri, len);
	path[len] = '\0';
	if (strstr(path, "%00") != NULL)
		return -1;
	return 0;
}

/*
 * Decodes the len bytes at s, percent-escapes (RFC 3986 2.1) and, with
 * plus set, '+' as a space (a form's query), into dst (size n). Returns
 * 0, or -1 for a bad or NUL escape or a value that does not fit.
 */
int
http_pct_decode(const char *s, size_t len, int plus, char *dst, size_t n)
{
	unsigned char	 c;
	size_t		 i, o = 0;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 || hex_decode(s + i + 1, 1, &c) == -1 ||
			    c == 0)
				return -1;
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		if (o + 1 >= n)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

/*
 * Copies the decoded value of query parameter name into dst (size n).
 * Returns 1 when found, 0 when absent, -1 when malformed or too long.
 */
int
req_query(const struct request *r, const char *name, char *dst, size_t n)
{
	const char	*p = r->query, *end;
	size_t		 nl = strlen(name);

	while (*p != '\0') {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			p += nl + 1;
			return http_pct_decode(p, (size_t)(end - p), 1, dst,
			    n) == 0 ? 1 : -1;
		} else if ((size_t)(end - p) == nl && strncmp(p, name, nl) == 0) {
			dst[0] = '\0';
			return 1;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return 0;
}

/*
 * Reads an integer query parameter in [min, max], def when absent.
 * Returns 0, or -1 after answering 400 with the allowed range.
 */
int
req_query_int(struct request *r, const char *name, long long min,
    long long max, long long def, long long *out)
{
	char	 v[32];
	int	 rc;

	if ((rc = req_query(r, name, v, sizeof(v))) == 0) {
		*out = def;
		return 0;
	}
	if (rc == 1 && parse_int(v, min, max, out) == 0)
		return 0;
	resp_error(r, 400, "invalid_parameter",
	    "%s must be an integer from %lld to %lld", name, min, max);
	return -1;
}

/*
 * Parses the request body as a JSON object of the n fields f (body.c)
 * into v, to be freed with body_free(). Returns 0, or -1 after answering
 * 400 (invalid_body, saying what is wrong) or 413.
 */
int
req_body(struct request *r, const struct body_field *f, size_t n,
    struct body_value *v)
{
	char	 err[256];
	int	 rc;

	if ((rc = body_parse(r->body, r->bodylen, f, n, v, err,
	    sizeof(err))) == BODY_OK)
		return 0;
	body_free(v, n);
	if (rc == BODY_TOO_LARGE)
		resp_error(r, 413, "body_too_large", "%s", err);
	else
		resp_error(r, 400, "invalid_body", "%s", err);
	return -1;
}

/* An RFC 3339 UTC time as JSON; NULL (JSON null) for 0, "never". */
json_object *
json_time(time_t t)
{
	char	 s[32];

	if (t == 0)
		return NULL;
	time_format(t, s, sizeof(s));
	return json_object_new_string(s);
}

/*
 * Adds a header. One that does not fit, or whose value has a control
 * character (a CR or LF would start another header), is not added and
 * breaks the response: resp_finish() turns it into a 500 rather than
 * send it without.
 */
void
resp_header(struct request *r, const char *name, const char *fmt, ...)
{
	va_list	 ap;
	char	 v[512];
	size_t	 i;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(v))
		goto fail;
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			goto fail;
	if (buf_printf(&r->headers, "%s: %s\r\n", name, v) == 0)
		return;
fail:
	log_warnx("response header %s: too long or not a field value", name);
	r->broken = 1;
}

/* Sets the status and serialises obj as the body; takes obj's reference. */
void
resp_json(struct request *r, int status, json_object *obj)
{
	const char	*s;
	size_t		 len;

	r->status = status;
	buf_reset(&r->out);
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (buf_add(&r->out, s, len) == -1 || buf_add(&r->out, "\n", 1) == -1) {
		r->status = 500;
		buf_reset(&r->out);
		/* Into the empty buffer: it fits. */
		buf_addstr(&r->out, "{\"error\":{\"code\":\"internal\","
		    "\"message\":\"response too large\"}}\n");
	}
	json_object_put(obj);
}

/* Answers {"error":{"code":..,"message":..}} with status. */
void
resp_error(struct request *r, int status, const char *code,
    const char *fmt, ...)
{
	json_object	*o = json_object_new_object(), *e;
	va_list		 ap;
	char		 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	resp_json(r, status, o);
}

/*
 * Once the handler is done: a response that lost a header is sent as a
 * 500 instead, with none of its headers.
 */
void
resp_finish(struct request *r)
{
	if (!r->broken)
		return;
	buf_reset(&r->headers);
	resp_error(r, 500, "internal", "the response could not be written");
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}
