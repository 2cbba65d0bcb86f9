/*
 * auth_fixture.h: table-driven cases for the auth rules (test_auth_*.c).
 * A case is a room state (a list of events as JSON, written with ' for "
 * to stay readable), an event to check and the expected verdict, run for
 * each room version it names. The loader fills what the rules do not care
 * about (depth, hashes, a signature by the sender's server, room_id) and
 * computes the checked event's auth_events with auth_types_for_event unless
 * the case lists them.
 *
 * Markers inside the JSON:
 *   "_rejected": true    the event is marked rejected
 *   "_id_only": true     the event is known by ID but not part of the state
 *   "room_id": null      no room_id at all
 *   PK_GOOD / PK_BAD     the unpadded base64 public key of the good/bad key
 *   "signed": "SIGN|good|@mxid|token"   replaced by a signed block
 *       {"mxid","token","signatures":{"id.test":{"ed25519:0":...}}} signed
 *       with the good or bad key ("-" for mxid or token leaves it out).
 */
#ifndef MX_AUTH_FIXTURE_H
#define MX_AUTH_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "b64.h"
#include "keys.h"
#include "map.h"
#include "testutil.h"

#define V10 1u
#define V11 2u
#define V12 4u
#define V_ALL (V10 | V11 | V12)
#define ROOM "!create:test"

typedef struct auth_case {
	const char *name;
	unsigned versions;
	const char *const *state; /* NULL-terminated */
	const char *event;
	bool allow;
	const char *why; /* a substring of the rejection message */
} auth_case;

#define STATE(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Building blocks. Users: alice creates the room (100), bob has 50, carol
 * the default 0; dave is not in the room. */
#define EVENT(id, type, sk, sender, content)                                              \
	"{'event_id':'$" id ":test','type':'" type "','state_key':'" sk "','sender':'" sender \
	"','content':" content "}"
#define MSG(id, type, sender, content) \
	"{'event_id':'$" id ":test','type':'" type "','sender':'" sender "','content':" content "}"
#define MEMBER(id, who, by, m) EVENT(id, "m.room.member", who, by, "{'membership':'" m "'}")
#define CREATE_C(content) EVENT("create", "m.room.create", "", "@alice:test", content)
#define CREATE CREATE_C("{'creator':'@alice:test'}")
#define PL(id, by, content) EVENT(id, "m.room.power_levels", "", by, content)
#define JR(rule) EVENT("jr", "m.room.join_rules", "", "@alice:test", "{'join_rule':'" rule "'}")
#define PL_USERS "'users':{'@alice:test':100,'@bob:test':50}"
#define PL_LEVELS                                                                       \
	"'events':{'m.room.power_levels':50,'com.example.admin':100},'state_default':50,"   \
	"'events_default':0,'ban':50,'kick':50,'invite':0,'redact':50,'users_default':0"
#define PL_BASE PL("pl", "@alice:test", "{" PL_USERS "," PL_LEVELS "}")
#define J_ALICE MEMBER("m_alice", "@alice:test", "@alice:test", "join")
#define J_BOB MEMBER("m_bob", "@bob:test", "@bob:test", "join")
#define J_CAROL MEMBER("m_carol", "@carol:test", "@carol:test", "join")
#define ROOM_BASE CREATE, J_ALICE, PL_BASE, J_BOB, J_CAROL
#define BASE(rule) ROOM_BASE, JR(rule)

static mx_key fx_good, fx_bad;
static char fx_pk_good[64], fx_pk_bad[64];

static void fx_keys(void)
{
	unsigned char seed[32];
	memset(seed, 7, sizeof seed);
	CHECK(key_from_seed(&fx_good, seed, "0", NULL) == MXDB_OK);
	memset(seed, 9, sizeof seed);
	CHECK(key_from_seed(&fx_bad, seed, "0", NULL) == MXDB_OK);
	key_public_b64(&fx_good, fx_pk_good);
	key_public_b64(&fx_bad, fx_pk_bad);
}

typedef struct fixture {
	const mx_room_version *rv;
	mx_map *by_id;  /* event ID -> ev_t* (owns them) */
	mx_map *state;  /* state key -> ev_t* */
} fixture;

static void fx_free_ev(void *p)
{
	ev_free(p);
}

static void fx_init(fixture *f, const mx_room_version *rv)
{
	f->rv = rv;
	f->by_id = map_new(16);
	f->state = map_new(16);
}

static void fx_done(fixture *f)
{
	map_free(f->state, NULL);
	map_free(f->by_id, fx_free_ev);
}

static const ev_t *fx_get(void *ctx, const char *type, const char *state_key)
{
	fixture *f = ctx;
	char key[600];
	size_t n = map_state_key(key, sizeof key, type, state_key);
	return n ? map_get(f->state, key, n) : NULL;
}

static const ev_t *fx_event(void *ctx, const char *event_id)
{
	fixture *f = ctx;
	return map_get(f->by_id, event_id, strlen(event_id));
}

static auth_state fx_state(fixture *f)
{
	return (auth_state){.get = fx_get, .event = fx_event, .ctx = f};
}

/* ' becomes ", and the key markers become keys. */
static char *fx_text(const char *src)
{
	size_t cap = strlen(src) * 2 + 64, n = 0;
	char *out = malloc(cap);
	for (const char *p = src; *p;) {
		const char *rep = NULL;
		size_t skip = 1;
		if (strncmp(p, "PK_GOOD", 7) == 0)
			rep = fx_pk_good, skip = 7;
		else if (strncmp(p, "PK_BAD", 6) == 0)
			rep = fx_pk_bad, skip = 6;
		if (rep) {
			size_t l = strlen(rep);
			memcpy(out + n, rep, l);
			n += l;
		} else {
			out[n++] = *p == '\'' ? '"' : *p;
		}
		p += skip;
	}
	out[n] = '\0';
	return out;
}

/* Replaces content.third_party_invite.signed "SIGN|key|mxid|token". */
static void fx_sign_tpi(json_t *pdu)
{
	json_t *tpi = json_object_get(json_object_get(pdu, "content"), "third_party_invite");
	const char *spec = json_string_value(json_object_get(tpi, "signed"));
	if (spec == NULL || strncmp(spec, "SIGN|", 5) != 0)
		return;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec + 5);
	char *key = strtok(buf, "|"), *mxid = strtok(NULL, "|"), *token = strtok(NULL, "|");
	json_t *signed_obj = json_object();
	if (mxid && strcmp(mxid, "-") != 0)
		json_object_set_new(signed_obj, "mxid", json_string(mxid));
	if (token && strcmp(token, "-") != 0)
		json_object_set_new(signed_obj, "token", json_string(token));
	const mx_key *k = strcmp(key, "good") == 0 ? &fx_good : &fx_bad;
	CHECK(key_sign_json(k, "id.test", signed_obj, NULL) == MXDB_OK);
	json_object_set_new(tpi, "signed", signed_obj);
}

static void fx_default(json_t *pdu, const char *key, json_t *value)
{
	if (json_object_get(pdu, key) == NULL)
		json_object_set(pdu, key, value);
	json_decref(value);
}

/* Parses one event of a case; checked: compute its auth_events from f's
 * state. Adds it to f (by ID; and to the state unless checked or _id_only). */
static ev_t *fx_load(fixture *f, const char *src, bool checked)
{
	char *text = fx_text(src);
	json_error_t jerr;
	json_t *pdu = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	CHECK_MSG(pdu != NULL, "%s: %s", text, jerr.text);
	free(text);
	if (pdu == NULL)
		return NULL;
	char id[300];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(pdu, "event_id")));
	json_object_del(pdu, "event_id");
	bool rejected = json_is_true(json_object_get(pdu, "_rejected"));
	bool id_only = json_is_true(json_object_get(pdu, "_id_only"));
	json_object_del(pdu, "_rejected");
	json_object_del(pdu, "_id_only");

	const char *type = json_string_value(json_object_get(pdu, "type"));
	bool is_create = type && strcmp(type, "m.room.create") == 0;
	if (json_is_null(json_object_get(pdu, "room_id")))
		json_object_del(pdu, "room_id");
	else if (!(is_create && f->rv->room_id_from_create))
		fx_default(pdu, "room_id", json_string(ROOM));
	fx_default(pdu, "depth", json_integer(1));
	fx_default(pdu, "origin_server_ts", json_integer(1700000000000));
	fx_default(pdu, "prev_events", is_create ? json_array() : json_pack("[s]", "$prev:test"));
	fx_default(pdu, "content", json_object());
	fx_default(pdu, "hashes", json_pack("{s:s}", "sha256", "unchecked"));
	const char *sender = json_string_value(json_object_get(pdu, "sender"));
	const char *colon = sender ? strchr(sender, ':') : NULL;
	fx_default(pdu, "signatures",
	           json_pack("{s:{s:s}}", colon ? colon + 1 : "none", "ed25519:1", "unchecked"));
	fx_sign_tpi(pdu);
	if (json_object_get(pdu, "auth_events") == NULL) {
		json_t *ids = json_array();
		if (checked) {
			auth_key keys[AUTH_MAX_KEYS];
			const char *sk = json_string_value(json_object_get(pdu, "state_key"));
			size_t n = auth_types_for_event(f->rv, type, sk, sender,
			                                json_object_get(pdu, "content"), keys, AUTH_MAX_KEYS);
			for (size_t i = 0; i < n; i++) {
				const ev_t *a = fx_get(f, keys[i].type, keys[i].state_key);
				if (a)
					json_array_append_new(ids, json_string(a->event_id));
			}
		}
		json_object_set_new(pdu, "auth_events", ids);
	}

	ev_t *ev = NULL;
	mxdb_error err;
	mx_clear(&err);
	CHECK_MSG(ev_from_json(pdu, id, f->rv, &ev, &err) == MXDB_OK, "%s: %s", id, err.message);
	json_decref(pdu);
	if (ev == NULL)
		return NULL;
	ev->rejected = rejected;
	if (map_has(f->by_id, ev->event_id, strlen(ev->event_id))) {
		CHECK_MSG(false, "fixture reuses event ID %s", ev->event_id);
		ev_free(ev);
		return NULL;
	}
	map_put(f->by_id, ev->event_id, strlen(ev->event_id), ev, NULL);
	if (!checked && !id_only && ev->state_key) {
		char key[600];
		size_t n = map_state_key(key, sizeof key, ev->type, ev->state_key);
		map_put(f->state, key, n, ev, NULL);
	}
	return ev;
}

static const char *const fx_versions[] = {"10", "11", "12"};

/* v12 creators cannot be listed in power levels: power levels events
 * written for every version (state and checked) drop alice's 100 entry
 * there, where she outranks everyone anyway. Cases about listing a creator
 * give her another level. */
static void fx_strip_creator(char *text)
{
	static const char entry[] = "'@alice:test':100";
	char *p;
	while ((p = strstr(text, entry)) != NULL) {
		size_t l = sizeof entry - 1;
		if (p[l] == ',')
			l++;
		else if (p > text && p[-1] == ',')
			p--, l++;
		memmove(p, p + l, strlen(p + l) + 1);
	}
}

/* Loads one event, dropping alice's power level entry in v12 (above). */
static ev_t *fx_load_v(fixture *f, const char *src, bool checked)
{
	char *text = strdup(src);
	if (f->rv->creators_infinite_power && strstr(text, "m.room.power_levels"))
		fx_strip_creator(text);
	ev_t *ev = fx_load(f, text, checked);
	free(text);
	return ev;
}

/* Loads a NULL-terminated list of state events. */
static void fx_load_state(fixture *f, const char *const *state)
{
	for (const char *const *s = state; s && *s; s++)
		fx_load_v(f, *s, false);
}

static void run_auth_cases(const auth_case *cases, size_t n)
{
	int runs = 0;
	for (size_t i = 0; i < n; i++) {
		const auth_case *tc = &cases[i];
		for (unsigned v = 0; v < 3; v++) {
			if (!(tc->versions & (1u << v)))
				continue;
			fixture f;
			fx_init(&f, rv_get(fx_versions[v]));
			runs++;
			fx_load_state(&f, tc->state);
			ev_t *ev = fx_load_v(&f, tc->event, true);
			auth_state st = fx_state(&f);
			mxdb_error err;
			mx_clear(&err);
			mxdb_status rc = ev ? auth_check(ev, &st, &err) : MXDB_EINTERNAL;
			if (tc->allow) {
				CHECK_MSG(rc == MXDB_OK, "v%s %s: rejected: %s", fx_versions[v], tc->name,
				          err.message);
			} else {
				CHECK_MSG(rc == MXDB_EFORBIDDEN, "v%s %s: allowed (status %d)",
				          fx_versions[v], tc->name, (int)rc);
				CHECK_MSG(tc->why == NULL || strstr(err.message, tc->why) != NULL,
				          "v%s %s: message \"%s\" lacks \"%s\"", fx_versions[v], tc->name,
				          err.message, tc->why);
			}
			fx_done(&f);
		}
	}
	printf("%zu cases, %d case-version runs\n", n, runs);
}

#define RUN_CASES(cases) run_auth_cases(cases, sizeof(cases) / sizeof(cases[0]))

#endif
