/*
 * JSON request bodies: a strict RFC 8259 parser for an object whose
 * fields are named in a table with their types. Bounded: at most BODY_MAX
 * bytes, containers nested at most BODY_DEPTH deep, each field at most
 * once. Strings are UTF-8 without NUL, integers are exact and in their
 * field's range; a field set to null counts as absent. It says what is
 * wrong in words a client can act on, naming the field.
 *
 * json-c, used for answers, is too lenient for requests: it takes
 * single-quoted strings, NaN, raw control characters and repeated names,
 * and saturates integers past 64 bits.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

#define NAME_MAX_LEN	64	/* longer names match no field */

struct parser {
	const unsigned char	*s;
	size_t			 n, i;
	const char		*syntax;	/* the first syntax error */
	size_t			 at;
	char			*err;		/* the first other error */
	size_t			 errsz;
	int			 wrong;
};

/* Notes the first syntax error; returns -1. */
static int
bad_syntax(struct parser *p, const char *why)
{
	if (p->syntax == NULL) {
		p->syntax = why;
		p->at = p->i;
	}
	return -1;
}

/* Notes the first error that is not one of syntax (parsing goes on). */
static void
bad_field(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
bad_field(struct parser *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->wrong)
		return;
	p->wrong = 1;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errsz, fmt, ap);
	va_end(ap);
}

static void
skip_ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int
peek(const struct parser *p)
{
	return p->i < p->n ? p->s[p->i] : -1;
}

/* Appends the UTF-8 of cp to out (room: cap) unless it is full. */
static void
put_utf8(char *out, size_t cap, size_t *len, int *over, uint32_t cp)
{
	unsigned char	 b[4];
	size_t		 n, i;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (out == NULL || *len + n > cap) {
		*over = 1;
		return;
	}
	for (i = 0; i < n; i++)
		out[(*len)++] = (char)b[i];
}

/* Four hex digits of a \u escape; returns the value or -1. */
static long
hex4(struct parser *p)
{
	long	 v = 0;
	int	 i, c;

	if (p->n - p->i < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = p->s[p->i++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Parses a string at p->i, decoding it into out (room: cap bytes, then
 * *over is set; out NULL: not kept) with *nul set if it holds U+0000.
 * Returns 0 or -1 (syntax).
 */
static int
parse_string(struct parser *p, char *out, size_t cap, size_t *len,
    int *over, int *nul)
{
	static const char	 esc[] = "\"\\/bfnrt", val[] = "\"\\/\b\f\n\r\t";
	const char		*e;
	uint32_t		 cp;
	long			 u, lo;
	size_t			 k;

	*len = 0;
	*over = *nul = 0;
	p->i++;		/* the opening quote */
	for (;;) {
		if (p->i >= p->n)
			return bad_syntax(p, "unterminated string");
		cp = p->s[p->i];
		if (cp == '"') {
			p->i++;
			break;
		}
		if (cp < 0x20)
			return bad_syntax(p, "control character in a string");
		if (cp == '\\') {
			if (++p->i >= p->n)
				return bad_syntax(p, "unterminated string");
			if ((e = strchr(esc, p->s[p->i])) != NULL &&
			    p->s[p->i] != '\0') {
				p->i++;
				cp = (unsigned char)val[e - esc];
			} else if (p->s[p->i] == 'u') {
				p->i++;
				if ((u = hex4(p)) == -1)
					return bad_syntax(p, "bad \\u escape");
				if (u >= 0xdc00 && u <= 0xdfff)
					return bad_syntax(p, "lone surrogate");
				if (u >= 0xd800 && u <= 0xdbff) {
					if (p->n - p->i < 2 || p->s[p->i] != '\\' ||
					    p->s[p->i + 1] != 'u')
						return bad_syntax(p, "lone surrogate");
					p->i += 2;
					if ((lo = hex4(p)) < 0xdc00 || lo > 0xdfff)
						return bad_syntax(p, "lone surrogate");
					u = 0x10000 + ((u - 0xd800) << 10) +
					    (lo - 0xdc00);
				}
				cp = (uint32_t)u;
			} else
				return bad_syntax(p, "bad escape");
		} else if (cp >= 0x80) {
			if ((k = utf8_decode(p->s + p->i, p->n - p->i,
			    &cp)) == 0)
				return bad_syntax(p, "invalid UTF-8");
			p->i += k;
		} else
			p->i++;
		if (cp == 0)
			*nul = 1;
		put_utf8(out, cap, len, over, cp);
	}
	if (out != NULL)
		out[*len] = '\0';
	return 0;
}

/*
 * Parses a number; *integer says whether it has neither fraction nor
 * exponent. Returns 0 or -1.
 */
static int
parse_number(struct parser *p, int *integer)
{
	*integer = 1;
	if (peek(p) == '-')
		p->i++;
	if (peek(p) == '0')
		p->i++;
	else if (peek(p) >= '1' && peek(p) <= '9')
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	else
		return bad_syntax(p, "bad number");
	if (peek(p) == '.') {
		*integer = 0;
		p->i++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return bad_syntax(p, "bad number");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		*integer = 0;
		p->i++;
		if (peek(p) == '+' || peek(p) == '-')
			p->i++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return bad_syntax(p, "bad number");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->i++;
	}
	return 0;
}

static int
parse_word(struct parser *p, const char *w)
{
	size_t	 n = strlen(w);

	if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0)
		return bad_syntax(p, "unexpected character");
	p->i += n;
	return 0;
}

static int	 parse_value(struct parser *, int);
static int	 parse_object(struct parser *, int, const struct body_field *,
		    size_t, struct body_value *);

static int
parse_array(struct parser *p, int depth)
{
	p->i++;
	skip_ws(p);
	if (peek(p) == ']') {
		p->i++;
		return 0;
	}
	for (;;) {
		if (parse_value(p, depth) == -1)
			return -1;
		skip_ws(p);
		if (peek(p) == ']') {
			p->i++;
			return 0;
		}
		if (peek(p) != ',')
			return bad_syntax(p, peek(p) == -1 ? "unexpected end" :
			    "unexpected character");
		p->i++;
	}
}

/* Parses any value at depth (its container's), keeping nothing. */
static int
parse_value(struct parser *p, int depth)
{
	size_t	 len;
	int	 c, over, nul;

	skip_ws(p);
	switch ((c = peek(p))) {
	case '{':
	case '[':
		if (depth >= BODY_DEPTH)
			return bad_syntax(p, "nested too deep");
		return c == '{' ? parse_object(p, depth + 1, NULL, 0, NULL) :
		    parse_array(p, depth + 1);
	case '"':
		return parse_string(p, NULL, 0, &len, &over, &nul);
	case 't':
		return parse_word(p, "true");
	case 'f':
		return parse_word(p, "false");
	case 'n':
		return parse_word(p, "null");
	case -1:
		return bad_syntax(p, "unexpected end");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return parse_number(p, &over);
		return bad_syntax(p, "unexpected character");
	}
}

/* Parses the value of field f into v, or notes why it is not one. */
static int
parse_field(struct parser *p, int depth, const struct body_field *f,
    struct body_value *v)
{
	char	 num[24];
	size_t	 start, len;
	int	 c, integer, over, nul;

	skip_ws(p);
	c = peek(p);
	if (c == 'n')
		return parse_word(p, "null");
	start = p->i;
	if (f->type == BODY_STR && c == '"') {
		free(v->s);
		v->s = xmalloc(p->n + 1);
		if (parse_string(p, v->s, p->n, &v->len, &over, &nul) == -1)
			return -1;
		if (nul)
			bad_field(p, "%s must not contain U+0000", f->name);
		v->set = 1;
		return 0;
	}
	if (f->type == BODY_INT && (c == '-' || (c >= '0' && c <= '9'))) {
		if (parse_number(p, &integer) == -1)
			return -1;
		len = p->i - start;
		if (integer && len < sizeof(num)) {
			memcpy(num, p->s + start, len);
			num[len] = '\0';
			if (parse_int(num, f->min, f->max, &v->i) == 0) {
				v->set = 1;
				return 0;
			}
		}
	} else if (f->type == BODY_BOOL && (c == 't' || c == 'f')) {
		v->i = c == 't';
		v->set = 1;
		return parse_word(p, c == 't' ? "true" : "false");
	} else if (parse_value(p, depth) == -1)
		return -1;
	if (f->type == BODY_INT)
		bad_field(p, "%s must be an integer from %lld to %lld", f->name,
		    f->min, f->max);
	else
		bad_field(p, "%s must be %s", f->name, f->type == BODY_STR ?
		    "a string" : "true or false");
	return 0;
}

/* Says "unknown field" with its name when that is safe to echo. */
static void
bad_name(struct parser *p, const char *name, size_t len, int over)
{
	size_t	 i;

	for (i = 0; i < len && !over; i++)
		if ((unsigned char)name[i] < 0x21 ||
		    (unsigned char)name[i] > 0x7e || name[i] == '"')
			break;
	if (over || i < len || len == 0)
		bad_field(p, "unknown field");
	else
		bad_field(p, "unknown field \"%s\"", name);
}

/*
 * Parses an object at depth; with fields, its members must be among them
 * (values into v), else they are only checked.
 */
static int
parse_object(struct parser *p, int depth, const struct body_field *fields,
    size_t nfields, struct body_value *v)
{
	char		 name[NAME_MAX_LEN + 1];
	unsigned int	 seen = 0;
	size_t		 len, k;
	int		 over, nul;

	p->i++;
	skip_ws(p);
	if (peek(p) == '}') {
		p->i++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (peek(p) != '"')
			return bad_syntax(p, peek(p) == -1 ? "unexpected end" :
			    "expected a field name");
		if (parse_string(p, name, NAME_MAX_LEN, &len, &over,
		    &nul) == -1)
			return -1;
		skip_ws(p);
		if (peek(p) != ':')
			return bad_syntax(p, "expected ':'");
		p->i++;
		for (k = 0; fields != NULL && k < nfields; k++)
			if (!over && !nul && strcmp(fields[k].name, name) == 0)
				break;
		if (fields == NULL) {
			if (parse_value(p, depth) == -1)
				return -1;
		} else if (k == nfields) {
			bad_name(p, name, len, over || nul);
			if (parse_value(p, depth) == -1)
				return -1;
		} else {
			if (seen & 1U << k)
				bad_field(p, "%s is given twice", fields[k].name);
			seen |= 1U << k;
			if (parse_field(p, depth, &fields[k], &v[k]) == -1)
				return -1;
		}
		skip_ws(p);
		if (peek(p) == '}') {
			p->i++;
			return 0;
		}
		if (peek(p) != ',')
			return bad_syntax(p, peek(p) == -1 ? "unexpected end" :
			    "expected ',' or '}'");
		p->i++;
	}
}

/*
 * Parses the len bytes at s as an object of fields[0..n - 1] (n at most
 * BODY_FIELDS) into v[0..n - 1]; an empty body is an empty object.
 * Returns BODY_OK, or BODY_INVALID / BODY_TOO_LARGE with the reason in
 * err. Free v with body_free() either way.
 */
int
body_parse(const char *s, size_t len, const struct body_field *fields,
    size_t n, struct body_value *v, char *err, size_t errsz)
{
	struct parser	 p;

	memset(v, 0, n * sizeof(*v));
	if (len > BODY_MAX) {
		snprintf(err, errsz, "request body is larger than %d bytes",
		    BODY_MAX);
		return BODY_TOO_LARGE;
	}
	if (n > BODY_FIELDS) {
		snprintf(err, errsz, "too many fields to parse");
		return BODY_INVALID;
	}
	if (len == 0)
		return BODY_OK;
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)s;
	p.n = len;
	p.err = err;
	p.errsz = errsz;
	skip_ws(&p);
	if (peek(&p) == '{')
		parse_object(&p, 1, fields, n, v);
	else if (parse_value(&p, 0) == 0)
		bad_field(&p, "request body must be a JSON object");
	if (p.syntax == NULL) {
		skip_ws(&p);
		if (p.i < p.n)
			bad_syntax(&p, "text after the object");
	}
	if (p.syntax != NULL) {
		snprintf(err, errsz, "request body is not valid JSON: %s at "
		    "byte %zu", p.syntax, p.at);
		return BODY_INVALID;
	}
	return p.wrong ? BODY_INVALID : BODY_OK;
}

void
body_free(struct body_value *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(v[i].s);
		v[i].s = NULL;
	}
}
