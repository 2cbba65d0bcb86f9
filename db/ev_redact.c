/*
 * ev_redact.c: the redaction algorithm (spec: rooms/vN.md, "Redactions"),
 * driven entirely by the room version's keep-lists in room_version.c.
 * Never changes its input; knows no version by name.
 */
#include <string.h>

#include "ev.h"

static const mx_redact_rule *find_rule(const mx_room_version *rv, const char *type)
{
	if (type == NULL)
		return NULL;
	for (const mx_redact_rule *r = rv->redact_content; r->type != NULL; r++)
		if (strcmp(r->type, type) == 0)
			return r;
	return NULL;
}

/* Copies content.a.b into out as {"a": {"b": ...}} for a path "a.b". */
static int keep_nested(json_t *out, const json_t *content, const char *path)
{
	const char *dot = strchr(path, '.');
	char outer_key[64];
	size_t n = (size_t)(dot - path);
	if (dot == NULL || n >= sizeof(outer_key))
		return -1;
	memcpy(outer_key, path, n);
	outer_key[n] = '\0';
	json_t *outer = json_object_get(content, outer_key);
	json_t *inner = json_is_object(outer) ? json_object_get(outer, dot + 1) : NULL;
	if (inner == NULL)
		return 0;
	json_t *wrap = json_object();
	if (wrap == NULL || json_object_set(wrap, dot + 1, inner) != 0 ||
	    json_object_set_new(out, outer_key, wrap) != 0)
		return -1;
	return 0;
}

/* out[k] = src[k] for the keys in the NULL-terminated list that src has. */
static int copy_keys(json_t *out, const json_t *src, const char *const *keys)
{
	for (const char *const *k = keys; k != NULL && *k != NULL; k++) {
		json_t *v = json_object_get(src, *k);
		if (v != NULL && json_object_set(out, *k, v) != 0)
			return -1;
	}
	return 0;
}

static json_t *redact_content(json_t *content, const mx_redact_rule *rule)
{
	if (rule != NULL && rule->keep_all)
		return json_incref(content);
	json_t *out = json_object();
	if (out == NULL || rule == NULL)
		return out;
	if (copy_keys(out, content, rule->keep_content) != 0)
		goto fail;
	for (const char *const *p = rule->keep_nested; p != NULL && *p != NULL; p++)
		if (keep_nested(out, content, *p) != 0)
			goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

mxdb_status ev_redact_shared(const json_t *pdu, const mx_room_version *rv, json_t **out,
                             mxdb_error *err)
{
	*out = NULL;
	if (rv == NULL)
		return mx_fail(err, MXDB_EINVAL, "no room version");
	if (!json_is_object(pdu))
		return mx_fail(err, MXDB_EBADJSON, "an event must be a JSON object");
	json_t *red = json_object();
	if (red == NULL || copy_keys(red, pdu, rv->redact_keep_top) != 0)
		goto fail;
	json_t *content = json_object_get(pdu, "content");
	if (json_is_object(content)) {
		const char *type = json_string_value(json_object_get(pdu, "type"));
		json_t *kept = redact_content(content, find_rule(rv, type));
		if (kept == NULL || json_object_set_new(red, "content", kept) != 0)
			goto fail;
	}
	*out = red;
	return MXDB_OK;
fail:
	json_decref(red);
	return mx_fail(err, MXDB_ENOMEM, "out of memory");
}

json_t *ev_redact(const json_t *pdu, const mx_room_version *rv)
{
	json_t *shared;
	if (ev_redact_shared(pdu, rv, &shared, NULL) != MXDB_OK)
		return NULL;
	json_t *copy = json_deep_copy(shared);
	json_decref(shared);
	return copy;
}
