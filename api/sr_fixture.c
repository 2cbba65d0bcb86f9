/*
 * sr_fixture.c: loads state-resolution scenarios (sr_fixture.h) and refuses
 * malformed ones with a precise message: unknown events, duplicate IDs,
 * cycles, state keys that do not match their events, no create event.
 * Owns the fixture's events and maps; never resolves anything itself.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sr_fixture.h"

const mx_room_version *sr_fixture_version(const char *id)
{
	if (id != NULL && (strcmp(id, "2") == 0 || strcmp(id, "6") == 0))
		return rv_get("10");
	return rv_get(id);
}

static const ev_t *fixture_get(void *ctx, const char *event_id)
{
	return map_get(((sr_fixture *)ctx)->by_id, event_id, strlen(event_id));
}

sr_fixture *sr_fixture_new(const mx_room_version *rv)
{
	sr_fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->rv = rv;
	f->by_id = map_new(64);
	if (f->by_id == NULL) {
		free(f);
		return NULL;
	}
	f->lookup = (sr_lookup){fixture_get, f};
	return f;
}

void sr_fixture_free(sr_fixture *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_events; i++)
		ev_free(f->events[i]);
	free(f->events);
	map_free(f->by_id, NULL);
	for (size_t i = 0; i < f->n_sets; i++)
		map_free(f->state_sets[i], free);
	free(f->state_sets);
	map_free(f->expected, free);
	free(f);
}

/* Kahn's algorithm over prev_events + auth_events: what is left is a cycle. */
static mxdb_status check_acyclic(const sr_fixture *f, mxdb_error *err)
{
	size_t n = f->n_events;
	size_t *pending = calloc(n ? n : 1, sizeof(*pending)), *queue = malloc((n ? n : 1) * sizeof(*queue));
	mx_map *pos = map_new(n);
	mxdb_status rc = MXDB_OK;
	if (pending == NULL || queue == NULL || pos == NULL) {
		rc = mx_fail(err, MXDB_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const ev_t *ev = f->events[i];
		if (map_put(pos, ev->event_id, strlen(ev->event_id), (void *)(uintptr_t)(i + 1), NULL)) {
			rc = mx_fail(err, MXDB_ENOMEM, "out of memory");
			goto done;
		}
	}
	/* pending[i]: how many events cite event i and are not yet removed. */
	for (size_t i = 0; i < n; i++) {
		const ev_t *ev = f->events[i];
		for (size_t k = 0; k < ev->n_prev + ev->n_auth; k++) {
			const char *id = k < ev->n_prev ? ev->prev_events[k] : ev->auth_events[k - ev->n_prev];
			pending[(uintptr_t)map_get(pos, id, strlen(id)) - 1]++;
		}
	}
	size_t head = 0, tail = 0;
	for (size_t i = 0; i < n; i++)
		if (pending[i] == 0)
			queue[tail++] = i;
	while (head < tail) {
		const ev_t *ev = f->events[queue[head++]];
		for (size_t k = 0; k < ev->n_prev + ev->n_auth; k++) {
			const char *id = k < ev->n_prev ? ev->prev_events[k] : ev->auth_events[k - ev->n_prev];
			size_t j = (uintptr_t)map_get(pos, id, strlen(id)) - 1;
			if (--pending[j] == 0)
				queue[tail++] = j;
		}
	}
	if (tail != n) {
		for (size_t i = 0; i < n; i++)
			if (pending[i] != 0) {
				rc = mx_fail(err, MXDB_EBADJSON, "the event graph has a cycle through %s",
				             f->events[i]->event_id);
				break;
			}
	}
done:
	free(pending);
	free(queue);
	map_free(pos, NULL);
	return rc;
}

static mxdb_status add_event(sr_fixture *f, const json_t *obj, size_t i, mxdb_error *err)
{
	if (!json_is_object(obj))
		return mx_fail(err, MXDB_EBADJSON, "events[%zu] is not an object", i);
	const char *id = json_string_value(json_object_get(obj, "event_id"));
	if (id == NULL || id[0] == '\0')
		return mx_fail(err, MXDB_EBADJSON, "events[%zu] has no event_id string", i);
	if (map_has(f->by_id, id, strlen(id)))
		return mx_fail(err, MXDB_EBADJSON, "event %s is listed twice", id);
	json_t *rej = json_object_get(obj, "rejected");
	if (rej != NULL && !json_is_boolean(rej))
		return mx_fail(err, MXDB_EBADJSON, "event %s: rejected must be a boolean", id);
	/* The PDU proper, without the fixture's bookkeeping keys. */
	json_t *pdu = json_copy((json_t *)obj);
	if (pdu == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	json_object_del(pdu, "event_id");
	json_object_del(pdu, "rejected");
	/* State resolution never reads depth; some vectors leave it out. */
	if (json_object_get(pdu, "depth") == NULL)
		json_object_set_new(pdu, "depth", json_integer(0));
	ev_t *ev = NULL;
	mxdb_error why;
	mxdb_status rc = ev_from_json(pdu, id, f->rv, &ev, &why);
	json_decref(pdu);
	if (rc != MXDB_OK)
		return mx_fail(err, rc, "event %s: %s", id, why.message);
	ev->rejected = json_is_true(rej);
	f->events[f->n_events++] = ev;
	if (map_put(f->by_id, ev->event_id, strlen(ev->event_id), ev, NULL) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return MXDB_OK;
}

mxdb_status sr_fixture_events(sr_fixture *f, const json_t *events, mxdb_error *err)
{
	if (!json_is_array(events))
		return mx_fail(err, MXDB_EBADJSON, "events must be an array");
	size_t n = json_array_size(events);
	f->events = calloc(n ? n : 1, sizeof(*f->events));
	if (f->events == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	mxdb_status rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = add_event(f, json_array_get(events, i), i, err)) != MXDB_OK)
			return rc;
	for (size_t i = 0; i < f->n_events; i++) {
		const ev_t *ev = f->events[i];
		for (size_t k = 0; k < ev->n_prev + ev->n_auth; k++) {
			const char *id = k < ev->n_prev ? ev->prev_events[k] : ev->auth_events[k - ev->n_prev];
			if (!map_has(f->by_id, id, strlen(id)))
				return mx_fail(err, MXDB_EBADJSON, "event %s references unknown event %s",
				               ev->event_id, id);
		}
	}
	return check_acyclic(f, err);
}

mxdb_status sr_fixture_state(const sr_fixture *f, const json_t *obj, mx_map **out,
                             mxdb_error *err)
{
	if (!json_is_object(obj))
		return mx_fail(err, MXDB_EBADJSON, "a state map must be an object");
	mx_map *m = map_new(json_object_size(obj));
	if (m == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	const char *k;
	json_t *v;
	mxdb_status rc = MXDB_OK;
	json_object_foreach((json_t *)obj, k, v) {
		const char *bar = strchr(k, '|');
		const char *id = json_string_value(v);
		const ev_t *ev = id ? map_get(f->by_id, id, strlen(id)) : NULL;
		if (bar == NULL) {
			rc = mx_fail(err, MXDB_EBADJSON, "state key '%s' is not \"type|state_key\"", k);
		} else if (id == NULL) {
			rc = mx_fail(err, MXDB_EBADJSON, "state key '%s': the value is not an event ID", k);
		} else if (ev == NULL) {
			rc = mx_fail(err, MXDB_EBADJSON, "state key '%s' names unknown event %s", k, id);
		} else if (ev->state_key == NULL || strcmp(ev->state_key, bar + 1) != 0 ||
		           strlen(ev->type) != (size_t)(bar - k) || strncmp(ev->type, k, bar - k) != 0) {
			rc = mx_fail(err, MXDB_EBADJSON, "state key '%s' names event %s of another key", k,
			             id);
		}
		if (rc != MXDB_OK)
			break;
		char key[2 * EV_MAX_ID + 4];
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
		char *dup = strdup(id);
		if (kl == 0 || dup == NULL || map_put(m, key, kl, dup, NULL) != 0) {
			free(dup);
			rc = mx_fail(err, MXDB_ENOMEM, "out of memory");
			break;
		}
	}
	if (rc != MXDB_OK) {
		map_free(m, free);
		return rc;
	}
	*out = m;
	return MXDB_OK;
}

mxdb_status sr_fixture_load(const json_t *root, sr_fixture **out, mxdb_error *err)
{
	if (!json_is_object(root))
		return mx_fail(err, MXDB_EBADJSON, "a scenario must be a JSON object");
	const char *ver = json_string_value(json_object_get(root, "room_version"));
	const mx_room_version *rv = sr_fixture_version(ver);
	if (rv == NULL)
		return mx_fail(err, MXDB_EVERSION, "unsupported room_version %s", ver ? ver : "(none)");
	json_t *sr = json_object_get(root, "state_res");
	if (sr != NULL) {
		const char *want = rv->stateres == MX_STATERES_V2_1 ? "v2.1" : "v2";
		if (!json_is_string(sr) || strcmp(json_string_value(sr), want) != 0)
			return mx_fail(err, MXDB_EBADJSON, "room version %s uses state res %s", ver, want);
	}
	json_t *sets = json_object_get(root, "state_sets");
	if (!json_is_array(sets))
		return mx_fail(err, MXDB_EBADJSON, "state_sets must be an array of state maps");
	sr_fixture *f = sr_fixture_new(rv);
	if (f == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	mxdb_status rc = sr_fixture_events(f, json_object_get(root, "events"), err);
	bool have_create = false;
	for (size_t i = 0; rc == MXDB_OK && i < f->n_events; i++)
		have_create |= f->events[i]->state_key != NULL && f->events[i]->state_key[0] == '\0' &&
		               strcmp(f->events[i]->type, "m.room.create") == 0;
	if (rc == MXDB_OK && !have_create)
		rc = mx_fail(err, MXDB_EBADJSON, "the scenario has no m.room.create event");
	size_t n = json_array_size(sets);
	if (rc == MXDB_OK && (f->state_sets = calloc(n ? n : 1, sizeof(*f->state_sets))) == NULL)
		rc = mx_fail(err, MXDB_ENOMEM, "out of memory");
	for (size_t i = 0; rc == MXDB_OK && i < n; i++) {
		rc = sr_fixture_state(f, json_array_get(sets, i), &f->state_sets[i], err);
		if (rc == MXDB_OK)
			f->n_sets++;
	}
	json_t *exp = json_object_get(root, "expected");
	if (rc == MXDB_OK && exp != NULL)
		rc = sr_fixture_state(f, exp, &f->expected, err);
	if (rc != MXDB_OK) {
		sr_fixture_free(f);
		return rc;
	}
	*out = f;
	return MXDB_OK;
}

json_t *sr_state_to_json(const mx_map *state)
{
	json_t *obj = json_object();
	size_t it = 0, klen;
	const char *key;
	void *v;
	while (obj != NULL && map_next(state, &it, &key, &klen, &v)) {
		const char *type, *sk;
		map_state_key_split(key, klen, &type, &sk);
		size_t tl = strlen(type), sl = strlen(sk);
		char *k = malloc(tl + sl + 2);
		if (k == NULL) {
			json_decref(obj);
			return NULL;
		}
		memcpy(k, type, tl);
		k[tl] = '|';
		memcpy(k + tl + 1, sk, sl + 1);
		int bad = json_object_set_new(obj, k, json_string(v));
		free(k);
		if (bad) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}
