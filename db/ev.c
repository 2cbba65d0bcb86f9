/*
 * ev.c: turning a PDU (jansson object) into an ev_t: field types, size
 * limits, the version-dependent places of room_id and redacts, and the
 * event ID. Owns the ev_t's memory. Never checks hashes, signatures or auth
 * rules (ev_hash.c and auth.c do), and never changes the PDU it is given.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "ev.h"

enum field_kind {
	F_ID,     /* string of at most EV_MAX_ID bytes */
	F_INT,    /* integer within the canonical JSON range */
	F_OBJECT, /* JSON object */
	F_IDS,    /* array of F_ID, at most max_items */
};

#define NO_SLOT ((size_t)-1)

/* The top-level keys ev_from_json checks, and where each lands in ev_t.
 * room_id is optional here because a v12 create event has none; the rule
 * that every other event needs one is checked after the table. */
static const struct field {
	const char *key;
	enum field_kind kind;
	bool required;
	size_t slot;   /* offsetof into ev_t, or NO_SLOT: only checked */
	size_t count;  /* F_IDS: offsetof the size_t count */
	size_t max_items;
	int64_t min;   /* F_INT */
} fields[] = {
	{"type", F_ID, true, offsetof(ev_t, type), 0, 0, 0},
	{"sender", F_ID, true, offsetof(ev_t, sender), 0, 0, 0},
	{"room_id", F_ID, false, offsetof(ev_t, room_id), 0, 0, 0},
	{"state_key", F_ID, false, offsetof(ev_t, state_key), 0, 0, 0},
	{"content", F_OBJECT, true, offsetof(ev_t, content), 0, 0, 0},
	{"depth", F_INT, true, offsetof(ev_t, depth), 0, 0, 0},
	{"origin_server_ts", F_INT, true, offsetof(ev_t, origin_server_ts), 0, 0, -CJ_MAX_INT},
	{"prev_events", F_IDS, true, offsetof(ev_t, prev_events), offsetof(ev_t, n_prev),
	 EV_MAX_PREV, 0},
	{"auth_events", F_IDS, true, offsetof(ev_t, auth_events), offsetof(ev_t, n_auth),
	 EV_MAX_AUTH, 0},
	{"hashes", F_OBJECT, false, NO_SLOT, 0, 0, 0},
	{"signatures", F_OBJECT, false, NO_SLOT, 0, 0, 0},
	{"unsigned", F_OBJECT, false, NO_SLOT, 0, 0, 0},
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static mxdb_status check_id(const json_t *v, const char *what, const char **out,
                            mxdb_error *err)
{
	if (!json_is_string(v))
		return mx_fail(err, MXDB_EBADJSON, "%s must be a string", what);
	if (json_string_length(v) > EV_MAX_ID)
		return mx_fail(err, MXDB_ETOOLARGE, "%s is %zu bytes, over the %d-byte limit", what,
		               json_string_length(v), EV_MAX_ID);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return mx_fail(err, MXDB_EBADJSON, "%s contains a NUL character", what);
	*out = json_string_value(v);
	return MXDB_OK;
}

static mxdb_status check_ids(const json_t *v, const struct field *f, ev_t *ev, mxdb_error *err)
{
	if (!json_is_array(v))
		return mx_fail(err, MXDB_EBADJSON, "%s must be an array of event IDs", f->key);
	size_t n = json_array_size(v);
	if (n > f->max_items)
		return mx_fail(err, MXDB_ETOOLARGE, "%s has %zu entries, over the limit of %zu",
		               f->key, n, f->max_items);
	const char **ids = NULL;
	if (n > 0 && (ids = calloc(n, sizeof(*ids))) == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	*(const char ***)((char *)ev + f->slot) = ids; /* owned by ev from here on */
	for (size_t i = 0; i < n; i++) {
		mxdb_status s = check_id(json_array_get(v, i), f->key, &ids[i], err);
		if (s != MXDB_OK)
			return s;
	}
	*(size_t *)((char *)ev + f->count) = n;
	return MXDB_OK;
}

static mxdb_status check_field(const json_t *pdu, const struct field *f, ev_t *ev,
                               mxdb_error *err)
{
	json_t *v = json_object_get(pdu, f->key);
	if (v == NULL)
		return f->required ? mx_fail(err, MXDB_EBADJSON, "missing %s", f->key) : MXDB_OK;
	void *slot = (char *)ev + f->slot;
	switch (f->kind) {
	case F_ID:
		return check_id(v, f->key, (const char **)slot, err);
	case F_INT:
		if (!json_is_integer(v))
			return mx_fail(err, MXDB_EBADJSON, "%s must be an integer", f->key);
		if (json_integer_value(v) < f->min || json_integer_value(v) > CJ_MAX_INT)
			return mx_fail(err, MXDB_EBADJSON, "%s is out of range", f->key);
		*(int64_t *)slot = json_integer_value(v);
		return MXDB_OK;
	case F_OBJECT:
		if (!json_is_object(v))
			return mx_fail(err, MXDB_EBADJSON, "%s must be an object", f->key);
		if (f->slot != NO_SLOT)
			*(json_t **)slot = v;
		return MXDB_OK;
	case F_IDS:
		return check_ids(v, f, ev, err);
	}
	return mx_fail(err, MXDB_EINTERNAL, "field kind %d", (int)f->kind);
}

/* redacts lives at the top level up to v10 and in content from v11. A
 * redacted redaction may have lost it, so it is optional. */
static mxdb_status find_redacts(const json_t *pdu, ev_t *ev, mxdb_error *err)
{
	if (strcmp(ev->type, "m.room.redaction") != 0)
		return MXDB_OK;
	const json_t *where = ev->rv->redacts_in_content ? ev->content : pdu;
	json_t *v = json_object_get(where, "redacts");
	return v == NULL ? MXDB_OK : check_id(v, "redacts", &ev->redacts, err);
}

static mxdb_status check_room_id(const ev_t *ev, mxdb_error *err)
{
	if (ev->room_id != NULL)
		return MXDB_OK;
	if (ev->rv->room_id_from_create && strcmp(ev->type, "m.room.create") == 0)
		return MXDB_OK;
	return mx_fail(err, MXDB_EBADJSON, "missing room_id");
}

static mxdb_status check_size(const json_t *pdu, mxdb_error *err)
{
	char *text;
	size_t len;
	mxdb_status s = cj_dump(pdu, &text, &len, err);
	if (s != MXDB_OK)
		return s;
	free(text);
	if (len > EV_MAX_BYTES)
		return mx_fail(err, MXDB_ETOOLARGE, "event is %zu bytes as canonical JSON, over %d",
		               len, EV_MAX_BYTES);
	return MXDB_OK;
}

static mxdb_status set_event_id(ev_t *ev, const char *event_id, mxdb_error *err)
{
	char computed[EV_ID_SIZE];
	if (event_id == NULL) {
		mxdb_status s = ev_compute_id(ev->json, ev->rv, computed, err);
		if (s != MXDB_OK)
			return s;
		event_id = computed;
	} else if (strlen(event_id) > EV_MAX_ID) {
		return mx_fail(err, MXDB_ETOOLARGE, "event_id is over %d bytes", EV_MAX_ID);
	}
	if ((ev->event_id = strdup(event_id)) == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return MXDB_OK;
}

static mxdb_status fill(ev_t *ev, json_t *json, const char *event_id, mxdb_error *err)
{
	mxdb_status s;
	if (!json_is_object(json))
		return mx_fail(err, MXDB_EBADJSON, "an event must be a JSON object");
	for (size_t i = 0; i < N_FIELDS; i++)
		if ((s = check_field(json, &fields[i], ev, err)) != MXDB_OK)
			return s;
	if ((s = check_room_id(ev, err)) != MXDB_OK)
		return s;
	if ((s = find_redacts(json, ev, err)) != MXDB_OK)
		return s;
	if ((s = check_size(json, err)) != MXDB_OK)
		return s;
	return set_event_id(ev, event_id, err);
}

mxdb_status ev_from_json(json_t *json, const char *event_id, const mx_room_version *rv,
                         ev_t **out, mxdb_error *err)
{
	*out = NULL;
	if (json == NULL || rv == NULL)
		return mx_fail(err, MXDB_EINVAL, "ev_from_json: no %s", json == NULL ? "JSON" : "room version");
	ev_t *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	ev->json = json_incref(json);
	ev->rv = rv;
	mxdb_status s = fill(ev, json, event_id, err);
	if (s != MXDB_OK) {
		ev_free(ev);
		return s;
	}
	*out = ev;
	return MXDB_OK;
}

void ev_free(ev_t *ev)
{
	if (ev == NULL)
		return;
	json_decref(ev->json);
	free(ev->event_id);
	free(ev->prev_events);
	free(ev->auth_events);
	free(ev);
}

bool ev_is_state(const ev_t *ev)
{
	return ev->state_key != NULL;
}
