/*
 * fed_auth.c: builds, parses and verifies X-Matrix Authorization headers.
 * Key lookup is the caller's business (fed_keys_lookup or a fetch); this
 * file only does the signing arithmetic and the header grammar.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fed_auth.h"

/* The JSON both sides sign: content only when the request has a body. */
static json_t *request_json(const char *method, const char *uri, const char *origin,
                            const char *destination, const json_t *content)
{
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "method", method, "uri", uri, "origin",
	                        origin, "destination", destination);
	if (obj != NULL && content != NULL &&
	    json_object_set(obj, "content", (json_t *)content) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

mxdb_status fed_auth_header(const mx_key *key, const char *origin, const char *destination,
                            const char *method, const char *uri, const json_t *content, char **out,
                            mxdb_error *err)
{
	*out = NULL;
	if (!origin || !destination || !method || !uri || uri[0] != '/')
		return mx_fail(err, MXDB_EINVAL, "origin, destination, method and uri are required");
	/* Values go out quoted; a quote or backslash in them would need escaping
	 * that older servers do not undo, so such names are refused. */
	if (strpbrk(origin, "\"\\") || strpbrk(destination, "\"\\"))
		return mx_fail(err, MXDB_EINVAL, "server name with a quote or backslash");
	json_t *obj = request_json(method, uri, origin, destination, content);
	if (obj == NULL)
		return mx_fail(err, MXDB_ENOMEM, "request JSON");
	mxdb_status st = key_sign_json(key, origin, obj, err);
	if (st == MXDB_OK) {
		json_t *sig = json_object_get(json_object_get(json_object_get(obj, "signatures"), origin),
		                              key->key_id);
		if (asprintf(out, "X-Matrix origin=\"%s\",destination=\"%s\",key=\"%s\",sig=\"%s\"",
		             origin, destination, key->key_id, json_string_value(sig)) < 0) {
			*out = NULL;
			st = mx_fail(err, MXDB_ENOMEM, "header");
		}
	}
	json_decref(obj);
	return st;
}

/* RFC 9110 tchar. */
static int tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Reads one value (quoted-string or token) into buf. */
static const char *read_value(const char *p, char *buf, size_t cap, int *ok)
{
	size_t n = 0;
	*ok = 0;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (n + 1 >= cap)
				return p;
			buf[n++] = *p;
		}
		if (*p != '"')
			return p;
		p++;
	} else {
		/* Colons for older servers; '/' because unquoted base64 signatures
		 * are common in the wild. */
		for (; tchar(*p) || *p == ':' || *p == '/'; p++) {
			if (n + 1 >= cap)
				return p;
			buf[n++] = *p;
		}
		if (n == 0)
			return p;
	}
	buf[n] = '\0';
	*ok = 1;
	return p;
}

mxdb_status fed_auth_parse(const char *header, fed_auth_params *out, mxdb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (header == NULL || strncasecmp(header, "X-Matrix", 8) != 0 || header[8] != ' ')
		return mx_fail(err, MXDB_ESIGNATURE, "not an X-Matrix authorization");
	const char *p = header + 8;
	while (*p == ' ')
		p++;
	char name[32], value[256];
	for (;;) {
		size_t n = 0;
		while (tchar(*p)) {
			if (n + 1 >= sizeof(name))
				return mx_fail(err, MXDB_ESIGNATURE, "parameter name too long");
			name[n++] = *p++;
		}
		name[n] = '\0';
		p = skip_ows(p);
		if (n == 0 || *p != '=')
			return mx_fail(err, MXDB_ESIGNATURE, "malformed X-Matrix parameters");
		int ok;
		p = read_value(skip_ows(p + 1), value, sizeof(value), &ok);
		if (!ok)
			return mx_fail(err, MXDB_ESIGNATURE, "malformed value of %s", name);
		/* Table of the parameters we keep; unknown ones are ignored. */
		struct { const char *name; char *dst; size_t cap; } known[] = {
			{"origin", out->origin, sizeof(out->origin)},
			{"destination", out->destination, sizeof(out->destination)},
			{"key", out->key, sizeof(out->key)},
			{"sig", out->sig, sizeof(out->sig)},
		};
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strcasecmp(name, known[i].name) != 0)
				continue;
			if (strlen(value) >= known[i].cap)
				return mx_fail(err, MXDB_ESIGNATURE, "%s too long", name);
			strcpy(known[i].dst, value);
		}
		p = skip_ows(p);
		if (*p == '\0')
			break;
		if (*p != ',')
			return mx_fail(err, MXDB_ESIGNATURE, "malformed X-Matrix parameters");
		p = skip_ows(p + 1);
	}
	if (!out->origin[0] || !out->key[0] || !out->sig[0])
		return mx_fail(err, MXDB_ESIGNATURE, "X-Matrix lacks origin, key or sig");
	return MXDB_OK;
}

mxdb_status fed_auth_verify(const fed_auth_params *p, const char *our_name, const char *method,
                            const char *uri, const json_t *content, const unsigned char pk[32],
                            mxdb_error *err)
{
	if (p->destination[0] && strcmp(p->destination, our_name) != 0)
		return mx_fail(err, MXDB_ESIGNATURE, "request is for %s, not for us (%s)", p->destination,
		               our_name);
	/* Without a destination parameter the sender signed our name anyway. */
	json_t *obj = request_json(method, uri, p->origin, our_name, content);
	if (obj == NULL ||
	    json_object_set_new(obj, "signatures", json_pack("{s:{s:s}}", p->origin, p->key, p->sig)) != 0) {
		json_decref(obj);
		return mx_fail(err, MXDB_ENOMEM, "request JSON");
	}
	mxdb_status st = key_verify_json(obj, p->origin, p->key, pk, err);
	json_decref(obj);
	return st;
}
