/* test_auth_vectors.c: replays the iterative auth checks of the shared
 * state-resolution vectors ($MXDB_VECTORS/stateres/resolve) with auth_check
 * and compares every accept/reject with the verdicts an independent
 * implementation recorded (diagnostics.iterative_auth_results), then the
 * resolved state with "expected". The sorted event lists come from the
 * vectors' diagnostics, so only the auth rules are under test here.
 *
 * Vectors of room versions 2 and 6 run under the v10 rules: what those
 * versions do differently (m.room.aliases, the redaction rule, string power
 * levels, no knocking or restricted rooms) does not occur in them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "map.h"
#include "testutil.h"

typedef struct replay {
	mx_map *events;     /* event ID -> ev_t* (owned) */
	mx_map *state;      /* "type|state_key" -> ev_t*: the partially resolved state */
	const ev_t *cur;    /* the event being checked */
} replay;

static void state_key_of(char *buf, size_t cap, const char *type, const char *sk)
{
	snprintf(buf, cap, "%s|%s", type, sk);
}

static const ev_t *rp_event(void *ctx, const char *id)
{
	replay *r = ctx;
	return map_get(r->events, id, strlen(id));
}

/* The partial state, else the checked event's own (accepted) auth event
 * for that key: the spec's iterative auth checks. */
static const ev_t *rp_get(void *ctx, const char *type, const char *sk)
{
	replay *r = ctx;
	char key[600];
	state_key_of(key, sizeof key, type, sk);
	const ev_t *ev = map_get(r->state, key, strlen(key));
	if (ev)
		return ev;
	for (size_t i = 0; r->cur && i < r->cur->n_auth; i++) {
		const ev_t *a = rp_event(r, r->cur->auth_events[i]);
		if (a && !a->rejected && a->state_key && strcmp(a->type, type) == 0 &&
		    strcmp(a->state_key, sk) == 0)
			return a;
	}
	return NULL;
}

static void ev_free_v(void *p)
{
	ev_free(p);
}

static void put_state(replay *r, const ev_t *ev)
{
	char key[600];
	state_key_of(key, sizeof key, ev->type, ev->state_key);
	map_put(r->state, key, strlen(key), (void *)ev, NULL);
}

static int replay_file(const char *path)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	CHECK_MSG(doc != NULL, "%s: %s", path, jerr.text);
	if (doc == NULL)
		return 0;
	const char *ver = json_string_value(json_object_get(doc, "room_version"));
	const mx_room_version *rv = rv_get(ver);
	if (rv == NULL && ver && (strcmp(ver, "2") == 0 || strcmp(ver, "6") == 0))
		rv = rv_get("10");
	CHECK_MSG(rv != NULL, "%s: room version %s", path, ver ? ver : "(none)");
	json_t *diag = json_object_get(doc, "diagnostics");
	json_t *results = json_object_get(diag, "iterative_auth_results");
	if (rv == NULL || !json_is_array(results)) {
		json_decref(doc);
		return 0;
	}

	replay r = {map_new(32), map_new(32), NULL};
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "events"), i, e) {
		json_t *pdu = json_deep_copy(e);
		char id[300];
		snprintf(id, sizeof id, "%s", json_string_value(json_object_get(pdu, "event_id")));
		json_object_del(pdu, "event_id");
		ev_t *ev = NULL;
		mxdb_error err;
		CHECK_MSG(ev_from_json(pdu, id, rv, &ev, &err) == MXDB_OK, "%s %s: %s", path, id,
		          err.message);
		json_decref(pdu);
		if (ev)
			map_put(r.events, ev->event_id, strlen(ev->event_id), ev, NULL);
	}
	/* v2 starts from the unconflicted state, v2.1 from nothing. */
	const char *key;
	json_t *idv;
	if (rv->stateres == MX_STATERES_V2)
		json_object_foreach(json_object_get(diag, "unconflicted"), key, idv) {
			const ev_t *ev = rp_event(&r, json_string_value(idv));
			if (ev)
				put_state(&r, ev);
		}
	auth_state st = {.get = rp_get, .event = rp_event, .ctx = &r};
	int checked = 0;
	json_array_foreach(results, i, e) {
		const char *id = json_string_value(json_array_get(e, 0));
		bool want = strcmp(json_string_value(json_array_get(e, 1)), "accepted") == 0;
		const ev_t *ev = id ? rp_event(&r, id) : NULL;
		CHECK_MSG(ev != NULL, "%s: unknown event %s", path, id);
		if (ev == NULL)
			continue;
		r.cur = ev;
		mxdb_error err;
		mx_clear(&err);
		bool got = auth_check(ev, &st, &err) == MXDB_OK;
		r.cur = NULL;
		CHECK_MSG(got == want, "%s: %s %s, want %s (%s)", path, id,
		          got ? "accepted" : "rejected", want ? "accepted" : "rejected", err.message);
		if (got && ev->state_key)
			put_state(&r, ev);
		checked++;
	}
	json_object_foreach(json_object_get(diag, "unconflicted"), key, idv) {
		const ev_t *ev = rp_event(&r, json_string_value(idv));
		if (ev)
			put_state(&r, ev);
	}
	json_t *expected = json_object_get(doc, "expected");
	CHECK_MSG(json_object_size(expected) == map_count(r.state), "%s: %zu keys, want %zu", path,
	          map_count(r.state), json_object_size(expected));
	json_object_foreach(expected, key, idv) {
		const ev_t *ev = map_get(r.state, key, strlen(key));
		CHECK_MSG(ev && strcmp(ev->event_id, json_string_value(idv)) == 0, "%s: %s is %s, want %s",
		          path, key, ev ? ev->event_id : "(none)", json_string_value(idv));
	}
	map_free(r.state, NULL);
	map_free(r.events, ev_free_v);
	json_decref(doc);
	return checked;
}

int main(void)
{
	const char *root = getenv("MXDB_VECTORS");
	CHECK_MSG(root != NULL, "MXDB_VECTORS is not set");
	if (root == NULL)
		return test_summary("test_auth_vectors");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/stateres/resolve", root);
	DIR *d = opendir(dir);
	CHECK_MSG(d != NULL, "cannot open %s", dir);
	int files = 0, verdicts = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		char path[2048];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		verdicts += replay_file(path);
		files++;
	}
	if (d)
		closedir(d);
	printf("%d vector files, %d auth verdicts replayed\n", files, verdicts);
	CHECK(files > 0 && verdicts > 0);
	return test_summary("test_auth_vectors");
}
