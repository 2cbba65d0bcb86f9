/*
 * test_acct.c: the accounts store on a real SQLite file: users and Argon2id
 * passwords, tokens, devices, profiles, filters, account data and the
 * stream, to-device delivery, keys (upload, query, claim with fallback),
 * transaction IDs, and that everything survives a reopen.
 */
#include "engine_util.h" /* first: it sets _XOPEN_SOURCE */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct.h"
#include "testutil.h"

static int notified;
static void on_notify(void *arg)
{
	notified++;
}

int main(void)
{
	char dir[] = "/tmp/mxdb-acct-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	acct_db *a;
	mxdb_error e;
	CHECK(acct_open(&a, path, "hs.test", &e) == MXDB_OK);
	acct_set_hash_cost(a, 1, 8192);
	acct_set_notify(a, on_notify, NULL);

	/* users */
	char *uid = NULL;
	CHECK(acct_user_create(a, "alice", "secret", &uid, &e) == MXDB_OK);
	CHECK(uid && strcmp(uid, "@alice:hs.test") == 0);
	free(uid);
	CHECK(acct_user_create(a, "alice", "x", NULL, &e) == MXDB_EEXISTS);
	CHECK(acct_user_create(a, "Bad Name", "x", NULL, &e) == MXDB_EINVAL);
	CHECK(acct_user_create(a, "bob", "pw", NULL, &e) == MXDB_OK);
	CHECK(acct_user_exists(a, "@alice:hs.test"));
	CHECK(!acct_user_exists(a, "@carol:hs.test"));
	CHECK(acct_password_check(a, "@alice:hs.test", "secret", &e) == MXDB_OK);
	CHECK(acct_password_check(a, "@alice:hs.test", "wrong", &e) == MXDB_EFORBIDDEN);
	CHECK(acct_password_check(a, "@carol:hs.test", "secret", &e) == MXDB_EFORBIDDEN);
	CHECK(acct_password_set(a, "@alice:hs.test", "new", &e) == MXDB_OK);
	CHECK(acct_password_check(a, "@alice:hs.test", "new", &e) == MXDB_OK);

	/* tokens and devices */
	char *dev = NULL, *tok = NULL, *u = NULL, *d = NULL;
	CHECK(acct_login(a, "@alice:hs.test", NULL, "phone", &dev, &tok, &e) == MXDB_OK);
	CHECK(dev && strlen(dev) == 10 && tok && strncmp(tok, "mxdb_", 5) == 0);
	CHECK(acct_token_lookup(a, tok, &u, &d) == MXDB_OK);
	CHECK(u && d && strcmp(u, "@alice:hs.test") == 0 && strcmp(d, dev) == 0);
	free(u);
	free(d);
	CHECK(acct_token_lookup(a, "nope", &u, &d) == MXDB_ENOTFOUND);
	char *dev2 = NULL, *tok2 = NULL;
	CHECK(acct_login(a, "@alice:hs.test", "LAPTOP", NULL, &dev2, &tok2, &e) == MXDB_OK);
	json_t *list = NULL;
	CHECK(acct_devices(a, "@alice:hs.test", NULL, &list, &e) == MXDB_OK);
	CHECK(json_array_size(list) == 2);
	json_decref(list);
	CHECK(acct_device_rename(a, "@alice:hs.test", "LAPTOP", "work", &e) == MXDB_OK);
	CHECK(acct_devices(a, "@alice:hs.test", "LAPTOP", &list, &e) == MXDB_OK);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(list, 0), "display_name")),
	             "work") == 0);
	json_decref(list);
	CHECK(acct_devices(a, "@alice:hs.test", "NONE", &list, &e) == MXDB_ENOTFOUND);
	CHECK(acct_logout(a, tok2, &e) == MXDB_OK);
	CHECK(acct_token_lookup(a, tok2, &u, &d) == MXDB_ENOTFOUND);

	/* profiles */
	CHECK(acct_profile_set(a, "@alice:hs.test", "displayname", "Alice", &e) == MXDB_OK);
	json_t *p = NULL;
	CHECK(acct_profile_get(a, "@alice:hs.test", &p, &e) == MXDB_OK);
	CHECK(strcmp(json_string_value(json_object_get(p, "displayname")), "Alice") == 0);
	CHECK(json_object_get(p, "avatar_url") == NULL);
	json_decref(p);
	CHECK(acct_profile_get(a, "@carol:hs.test", &p, &e) == MXDB_ENOTFOUND);

	/* filters */
	char *fid = NULL;
	json_t *f = json_pack("{s:{s:{s:i}}}", "room", "timeline", "limit", 5);
	CHECK(acct_filter_put(a, "@alice:hs.test", f, &fid, &e) == MXDB_OK);
	json_t *f2 = NULL;
	CHECK(acct_filter_get(a, "@alice:hs.test", fid, &f2, &e) == MXDB_OK);
	CHECK(json_equal(f, f2));
	json_decref(f2);
	CHECK(acct_filter_get(a, "@bob:hs.test", fid, &f2, &e) == MXDB_ENOTFOUND);
	json_decref(f);
	free(fid);

	/* account data and the stream */
	uint64_t p0 = acct_pos(a);
	int n0 = notified;
	json_t *c = json_pack("{s:i}", "x", 1);
	CHECK(acct_data_put(a, "@alice:hs.test", NULL, "m.push_rules", c, &e) == MXDB_OK);
	CHECK(acct_data_put(a, "@alice:hs.test", "!r:hs.test", "m.tag", c, &e) == MXDB_OK);
	json_decref(c);
	CHECK(acct_pos(a) == p0 + 2 && notified == n0 + 2);
	json_t *got = NULL;
	CHECK(acct_data_get(a, "@alice:hs.test", NULL, "m.push_rules", &got, &e) == MXDB_OK);
	CHECK(json_integer_value(json_object_get(got, "x")) == 1);
	json_decref(got);
	CHECK(acct_data_get(a, "@alice:hs.test", NULL, "m.tag", &got, &e) == MXDB_ENOTFOUND);

	/* to-device: to one device and to all ("*") */
	json_t *msgs = json_pack("{s:{s:{s:s}}}", "@alice:hs.test", "*", "k", "v");
	CHECK(acct_to_device_send(a, "@bob:hs.test", "m.test", msgs, &e) == MXDB_OK);
	json_decref(msgs);
	json_t *s = NULL;
	CHECK(acct_sync(a, "@alice:hs.test", dev, p0, acct_pos(a), false, &s, &e) == MXDB_OK);
	CHECK(json_array_size(json_object_get(s, "account_data")) == 1);
	CHECK(json_object_size(json_object_get(s, "rooms")) == 1);
	CHECK_MSG(json_array_size(json_object_get(s, "to_device")) == 1, "%s",
	          json_dumps(s, JSON_COMPACT));
	json_decref(s);
	/* after the client moved past them, to-device messages are gone */
	uint64_t now = acct_pos(a);
	CHECK(acct_sync(a, "@alice:hs.test", dev, now, now, false, &s, &e) == MXDB_OK);
	json_decref(s);
	CHECK(acct_sync(a, "@alice:hs.test", dev, p0, now, false, &s, &e) == MXDB_OK);
	CHECK(json_array_size(json_object_get(s, "to_device")) == 0);
	json_decref(s);

	/* receipts */
	CHECK(acct_receipt_put(a, "!r:hs.test", "@bob:hs.test", "m.read", "$e1", NULL, &e) == MXDB_OK);
	json_t *rc = NULL;
	CHECK(acct_receipt_put(a, "!r:hs.test", "@bob:hs.test", "m.read.private", "$e2", NULL, &e) ==
	      MXDB_OK);
	CHECK(acct_receipts_room(a, "!r:hs.test", "@alice:hs.test", &rc, &e) == MXDB_OK);
	CHECK(json_object_get(rc, "$e2") == NULL);
	json_decref(rc);
	CHECK(acct_receipts_room(a, "!r:hs.test", "@bob:hs.test", &rc, &e) == MXDB_OK);
	CHECK(json_object_get(rc, "$e2") != NULL);
	CHECK(json_object_get(json_object_get(json_object_get(json_object_get(rc, "$e1"), "m.read"),
	                                      "@bob:hs.test"),
	                      "ts") != NULL);
	json_decref(rc);

	/* keys */
	json_t *dk = json_pack("{s:s, s:s, s:[s], s:{}}", "user_id", "@alice:hs.test", "device_id",
	                       dev, "algorithms", "m.olm.v1.curve25519-aes-sha2", "keys");
	json_t *otk = json_pack("{s:{s:s}, s:{s:s}}", "signed_curve25519:A", "key", "ka",
	                        "signed_curve25519:B", "key", "kb");
	json_t *fb = json_pack("{s:{s:s}}", "signed_curve25519:F", "key", "kf");
	json_t *counts = NULL;
	CHECK(acct_keys_upload(a, "@alice:hs.test", dev, dk, otk, fb, &counts, &e) == MXDB_OK);
	CHECK(json_integer_value(json_object_get(counts, "signed_curve25519")) == 2);
	json_decref(counts);
	json_decref(dk);
	json_decref(otk);
	json_decref(fb);
	json_t *q = json_pack("{s:[]}", "@alice:hs.test"), *qr = NULL;
	CHECK(acct_keys_query(a, q, &qr, &e) == MXDB_OK);
	CHECK(json_object_get(json_object_get(qr, "@alice:hs.test"), dev) != NULL);
	json_decref(q);
	json_decref(qr);
	json_t *claim = json_pack("{s:{s:s}}", "@alice:hs.test", dev, "signed_curve25519");
	int fallback_seen = 0;
	for (int i = 0; i < 3; i++) {
		json_t *cr = NULL;
		CHECK(acct_keys_claim(a, claim, &cr, &e) == MXDB_OK);
		json_t *k = json_object_get(json_object_get(cr, "@alice:hs.test"), dev);
		CHECK(json_object_size(k) == 1);
		if (json_object_get(k, "signed_curve25519:F") != NULL)
			fallback_seen++;
		json_decref(cr);
	}
	CHECK(fallback_seen == 1);
	json_decref(claim);
	CHECK(acct_otk_counts(a, "@alice:hs.test", dev, &counts, &e) == MXDB_OK);
	CHECK(json_integer_value(json_object_get(counts, "signed_curve25519")) == 0);
	json_decref(counts);

	/* transaction IDs */
	char *ev = NULL;
	CHECK(acct_txn_get(a, "@alice:hs.test", dev, "t1", &ev) == MXDB_ENOTFOUND);
	CHECK(acct_txn_put(a, "@alice:hs.test", dev, "t1", "$x", &e) == MXDB_OK);
	CHECK(acct_txn_get(a, "@alice:hs.test", dev, "t1", &ev) == MXDB_OK && strcmp(ev, "$x") == 0);
	free(ev);
	CHECK(acct_txn_get(a, "@alice:hs.test", "OTHER", "t1", &ev) == MXDB_ENOTFOUND);

	/* deleting a device drops its tokens; everything else survives a reopen */
	CHECK(acct_device_delete(a, "@alice:hs.test", dev, &e) == MXDB_OK);
	CHECK(acct_token_lookup(a, tok, &u, &d) == MXDB_ENOTFOUND);
	uint64_t pos = acct_pos(a);
	acct_close(a);
	CHECK(acct_open(&a, path, "hs.test", &e) == MXDB_OK);
	CHECK(acct_pos(a) == pos);
	CHECK(acct_password_check(a, "@alice:hs.test", "new", &e) == MXDB_OK);
	acct_close(a);
	free(dev);
	free(tok);
	free(dev2);
	free(tok2);
	CHECK(tmpdir_remove(dir) == 0);
	return test_summary("test_acct");
}
