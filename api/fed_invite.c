/*
 * fed_invite.c: inviting a user of another server (spec: "Inviting to a
 * room", server-server API): the invite is built here, signed by us, sent
 * to the invitee's server with PUT /v2/invite, and the copy it signed too
 * goes into the room and to the room's other servers. Also runs the client
 * API's invites, remote joins and declines on a thread of their own
 * while the HTTP request is parked: the other server calls back for our
 * keys, maybe over a connection served by the very HTTP thread that would
 * otherwise wait. Owns only that exchange; the room itself is the
 * engine's (fed_room.h).
 */
#define _GNU_SOURCE /* asprintf */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "fed_pdu.h"
#include "fed_room.h"
#include "fed_service.h"
#include "fed_store.h"
#include "log.h"
#include "url.h"

/* State types shown to the invitee (spec: "stripped state"). */
static const char *const stripped_types[] = {
	"m.room.create", "m.room.join_rules", "m.room.name",       "m.room.avatar",
	"m.room.topic",  "m.room.encryption", "m.room.canonical_alias", NULL,
};

/* The room's current state, stripped (new array). */
static json_t *stripped_state(fed_service *f, const char *room_id, mxdb_error *err)
{
	json_t *state = NULL;
	if (fed_room_state(f->db, room_id, NULL, false, &state, NULL, err) != MXDB_OK)
		return NULL;
	json_t *out = json_array(), *e;
	size_t i;
	json_array_foreach(state, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *sk = json_string_value(json_object_get(e, "state_key"));
		size_t k = 0;
		while (type && stripped_types[k] && strcmp(stripped_types[k], type) != 0)
			k++;
		if (type && sk && sk[0] == '\0' && stripped_types[k] != NULL)
			json_array_append_new(out, json_pack("{s:s, s:s, s:O, s:O}", "type", type, "state_key",
			                                     sk, "sender", json_object_get(e, "sender"),
			                                     "content", json_object_get(e, "content")));
	}
	json_decref(state);
	return out;
}

/* PUT /v2/invite to the invitee's server; *out: the event it signed, which
 * must be ours (same event ID) and carry a valid signature of its own. */
static mxdb_status ask_invitee(fed_service *f, const char *server, const mx_room_version *rv,
                               json_t *event, const char *id, json_t *invite_state, ev_t **out,
                               mxdb_error *err)
{
	char *r = url_escape(json_string_value(json_object_get(event, "room_id"))), *e = url_escape(id);
	char *uri = NULL;
	json_t *answer = NULL;
	long status = 0;
	mxdb_status s = MXDB_OK;
	if (r == NULL || e == NULL || asprintf(&uri, "/_matrix/federation/v2/invite/%s/%s", r, e) < 0)
		uri = NULL, s = mx_fail(err, MXDB_ENOMEM, "uri");
	json_t *body = s == MXDB_OK ? json_pack("{s:s, s:O, s:O}", "room_version", rv->id, "event",
	                                        event, "invite_room_state", invite_state)
	                            : NULL;
	if (s == MXDB_OK)
		s = body ? fed_request(f->client, server, "PUT", uri, body, &status, &answer, err)
		         : mx_fail(err, MXDB_ENOMEM, "invite");
	json_t *signed_ev = json_object_get(answer, "event");
	if (s == MXDB_OK && (status != 200 || !json_is_object(signed_ev)))
		s = mx_fail(err, status == 403 ? MXDB_EFORBIDDEN : MXDB_EIO, "invite at %s: %ld %s", server,
		            status, json_string_value(json_object_get(answer, "error")) ?: "");
	int red = 0;
	if (s == MXDB_OK)
		s = fed_pdu_check(signed_ev, rv, fed_keyring_event_key, f->keyring, out, &red, err);
	if (s == MXDB_OK && (red || strcmp((*out)->event_id, id) != 0 ||
	                     fed_pdu_signed_by(signed_ev, rv, server, fed_keyring_event_key, f->keyring,
	                                       err) != MXDB_OK)) {
		ev_free(*out);
		*out = NULL;
		s = mx_fail(err, MXDB_EFORBIDDEN, "%s did not sign our invite", server);
	}
	json_decref(body);
	json_decref(answer);
	free(uri);
	free(r);
	free(e);
	return s;
}

mxdb_status fed_invite(fed_service *f, const char *room_id, const char *sender, const char *target,
                       const char *reason, bool is_direct, mxdb_error *err)
{
	const char *server = fed_server_of(target);
	if (server == NULL || strcmp(server, f->server_name) == 0)
		return mx_fail(err, MXDB_EINVAL, "%s is not a user of another server", target);
	json_t *event = NULL, *st = NULL;
	const char *rv_id = NULL;
	ev_t *ev = NULL;
	char id[EV_ID_SIZE];
	mxdb_status s = fed_room_make_member_event(f->db, room_id, sender, target, "invite", &event,
	                                           &rv_id, err);
	const mx_room_version *rv = s == MXDB_OK ? rv_get(rv_id) : NULL;
	if (s == MXDB_OK && rv == NULL)
		s = mx_fail(err, MXDB_EINTERNAL, "room version %s", rv_id);
	if (s == MXDB_OK) {
		json_object_del(event, "origin");
		if (reason != NULL)
			json_object_set_new(json_object_get(event, "content"), "reason", json_string(reason));
		if (is_direct)
			json_object_set_new(json_object_get(event, "content"), "is_direct", json_true());
		s = ev_hash_and_sign(event, rv, &f->key, f->server_name, err);
	}
	if (s == MXDB_OK)
		s = ev_compute_id(event, rv, id, err);
	if (s == MXDB_OK && (st = stripped_state(f, room_id, err)) == NULL)
		s = err ? err->code : MXDB_EIO;
	if (s == MXDB_OK)
		s = ask_invitee(f, server, rv, event, id, st, &ev, err);
	json_t *pdu = ev ? json_incref(ev->json) : NULL;
	/* Ours and the invitee's signatures: it enters the room here like a
	 * received event (auth checked), then goes to the room's servers. */
	if (s == MXDB_OK)
		s = fed_room_accept_membership(f->db, ev, NULL, NULL, err);
	/* The invitee's server too, when it is in the room already: the
	 * invite it signed then enters its copy of the room. */
	if (s == MXDB_OK)
		s = fed_forward(f, room_id, pdu, NULL, err);
	json_decref(pdu);
	json_decref(event);
	json_decref(st);
	return s;
}

/* ---- the client API's requests, off the HTTP thread ---- */

typedef struct fed_job fed_job;
struct fed_job {
	mxdb_status (*run)(fed_job *j);
	fed_service *f;
	char *room_id, *sender, *target, *reason;
	char **targets; /* a room's remote invitees, invited one by one */
	size_t ntargets;
	char *out;      /* a join's (or the invited room's) room ID */
	bool is_direct; /* the invites carry "is_direct": true */
	pthread_t thread;
	atomic_bool done;
	mxdb_status st;
	mxdb_error e;
};

static void *job_run(void *arg)
{
	fed_job *j = arg;
	j->st = j->run(j);
	atomic_store(&j->done, true);
	return NULL;
}

static mxdb_status run_invite(fed_job *j)
{
	return fed_invite(j->f, j->room_id, j->sender, j->target, j->reason, false, &j->e);
}

/* A new room's invitees: one failed invite fails neither the others nor
 * the room, which exists already; it is logged. */
static mxdb_status run_invite_list(fed_job *j)
{
	for (size_t i = 0; i < j->ntargets; i++) {
		mxdb_error e;
		if (fed_invite(j->f, j->room_id, j->sender, j->targets[i], NULL, j->is_direct, &e) != MXDB_OK)
			log_warn("federation: inviting %s to %s: %s", j->targets[i], j->room_id, e.message);
	}
	j->out = strdup(j->room_id);
	return j->out ? MXDB_OK : mx_fail(&j->e, MXDB_ENOMEM, "room id");
}

static mxdb_status run_join(fed_job *j)
{
	return fed_join(j->f, j->room_id, j->sender, (const char *const *)j->targets, j->ntargets,
	                &j->out, &j->e);
}

static mxdb_status run_knock(fed_job *j)
{
	return fed_knock(j->f, j->room_id, j->sender, (const char *const *)j->targets, j->ntargets,
	                 j->reason, &j->out, &j->e);
}

static mxdb_status run_decline(fed_job *j)
{
	return fed_decline(j->f, j->room_id, j->sender, j->reason, &j->e);
}

static void job_drop(fed_job *j)
{
	free(j->room_id);
	free(j->sender);
	free(j->target);
	free(j->reason);
	free(j->out);
	for (size_t i = 0; i < j->ntargets; i++)
		free(j->targets[i]);
	free(j->targets);
	free(j);
}

/* Runs when the request ends (answered, or the server closing): the
 * thread uses the job, so it is waited for (at most one request's time). */
static void job_free(void *arg)
{
	fed_job *j = arg;
	pthread_join(j->thread, NULL);
	job_drop(j);
}

#define JOB_POLL_MS 20

/* The generic request: starts the job on first call, then polls it; when
 * done, *out (if wanted) takes the job's result string. */
static bool job_request(fed_service *f, http_req *r, mxdb_status (*run)(fed_job *j),
                        const char *room_id, const char *sender, const char *target,
                        const char *reason, const char *const *targets, size_t ntargets,
                        bool is_direct, char **out, mxdb_status *st, mxdb_error *err)
{
	fed_job *j = r->park;
	if (j == NULL) {
		j = calloc(1, sizeof(*j));
		if (j == NULL) {
			*st = mx_fail(err, MXDB_ENOMEM, "federation request");
			return true;
		}
		j->run = run;
		j->f = f;
		j->room_id = strdup(room_id);
		j->sender = strdup(sender);
		j->target = target ? strdup(target) : NULL;
		j->reason = reason ? strdup(reason) : NULL;
		j->is_direct = is_direct;
		atomic_init(&j->done, false);
		bool copied = true;
		if (ntargets > 0 && (j->targets = calloc(ntargets, sizeof(*j->targets))) == NULL)
			copied = false;
		for (size_t i = 0; copied && i < ntargets; i++, j->ntargets++)
			copied = (j->targets[i] = strdup(targets[i])) != NULL;
		if (!copied || !j->room_id || !j->sender || (target && !j->target) || (reason && !j->reason) ||
		    pthread_create(&j->thread, NULL, job_run, j) != 0) {
			job_drop(j);
			*st = mx_fail(err, MXDB_ENOMEM, "invite thread");
			return true;
		}
		r->park = j;
		r->park_free = job_free;
	} else if (atomic_load(&j->done)) {
		*st = j->st;
		*err = j->e;
		if (out != NULL) {
			*out = j->out;
			j->out = NULL;
		}
		return true;
	} else if (http_closing(r->srv)) {
		*st = mx_fail(err, MXDB_EIO, "the server is stopping");
		return true;
	}
	http_park(r, http_now_ms() + JOB_POLL_MS);
	return false;
}

bool fed_invite_request(fed_service *f, http_req *r, const char *room_id, const char *sender,
                        const char *target, const char *reason, mxdb_status *st, mxdb_error *err)
{
	return job_request(f, r, run_invite, room_id, sender, target, reason, NULL, 0, false, NULL, st, err);
}

bool fed_decline_request(fed_service *f, http_req *r, const char *room_id, const char *user_id,
                         const char *reason, mxdb_status *st, mxdb_error *err)
{
	return job_request(f, r, run_decline, room_id, user_id, NULL, reason, NULL, 0, false, NULL, st,
	                   err);
}

bool fed_join_request(fed_service *f, http_req *r, const char *room, const char *user_id,
                      const char *const *via, size_t n_via, char **room_id, mxdb_status *st,
                      mxdb_error *err)
{
	return job_request(f, r, run_join, room, user_id, NULL, NULL, via, n_via, false, room_id, st,
	                   err);
}

bool fed_knock_request(fed_service *f, http_req *r, const char *room, const char *user_id,
                       const char *const *via, size_t n_via, const char *reason, char **room_id,
                       mxdb_status *st, mxdb_error *err)
{
	return job_request(f, r, run_knock, room, user_id, NULL, reason, via, n_via, false, room_id,
	                   st, err);
}

bool fed_invite_list_request(fed_service *f, http_req *r, const char *room_id, const char *sender,
                             const char *const *targets, size_t n, bool is_direct, char **out,
                             mxdb_status *st, mxdb_error *err)
{
	return job_request(f, r, run_invite_list, room_id, sender, NULL, NULL, targets, n, is_direct,
	                   out, st, err);
}

size_t fed_split_invitees(const char *server_name, const char **list, size_t n)
{
	size_t ours = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = fed_server_of(list[i]);
		if (s == NULL || strcmp(s, server_name) == 0) {
			/* rotate list[ours..i] right by one: both halves keep their order */
			const char *u = list[i];
			memmove(&list[ours + 1], &list[ours], (i - ours) * sizeof(*list));
			list[ours++] = u;
		}
	}
	return ours;
}
