/*
 * keys.c: the server's ed25519 signing key (derive, generate, key file) and
 * signing/verifying JSON objects (spec appendices, "Signing JSON").
 *
 * Owns the key file format and its atomic, no-clobber creation. Never keeps a
 * copy of a secret outside the caller's mx_key, and wipes the temporaries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "cjson.h"
#include "keys.h"

#define SEED_BYTES crypto_sign_SEEDBYTES
#define VERSION_MAX (sizeof(((mx_key *)0)->key_id) - sizeof("ed25519:"))

/* sodium_init is idempotent and thread-safe; it only fails when the
 * system's random source is unusable. */
static mxdb_status sodium_ready(mxdb_error *err)
{
	if (sodium_init() < 0)
		return mx_fail(err, MXDB_EINTERNAL, "libsodium failed to initialise");
	return MXDB_OK;
}

/* Key versions end up in JSON keys and URLs: keep them to [A-Za-z0-9_]. */
static int version_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > VERSION_MAX)
		return 0;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '_'))
			return 0;
	return 1;
}

mxdb_status key_from_seed(mx_key *key, const unsigned char seed[32], const char *version,
                          mxdb_error *err)
{
	mxdb_status st = sodium_ready(err);
	if (st != MXDB_OK)
		return st;
	if (!version_ok(version))
		return mx_fail(err, MXDB_EINVAL, "bad key version '%s' (1-%zu of A-Z a-z 0-9 _)",
		               version, VERSION_MAX);
	snprintf(key->key_id, sizeof(key->key_id), "ed25519:%s", version);
	crypto_sign_seed_keypair(key->pk, key->sk, seed);
	return MXDB_OK;
}

mxdb_status key_generate(mx_key *key, mxdb_error *err)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	mxdb_status st = sodium_ready(err);
	if (st != MXDB_OK)
		return st;
	char version[7] = "a_";
	for (int i = 2; i < 6; i++)
		version[i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
	version[6] = '\0';
	unsigned char seed[SEED_BYTES];
	randombytes_buf(seed, sizeof(seed));
	st = key_from_seed(key, seed, version, err);
	sodium_memzero(seed, sizeof(seed));
	return st;
}

void key_public_b64(const mx_key *key, char out[64])
{
	b64_encode(key->pk, sizeof(key->pk), out);
}

/* ---- key file ----------------------------------------------------------- */

mxdb_status key_load(mx_key *key, const char *path, mxdb_error *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return mx_fail(err, errno == ENOENT ? MXDB_ENOTFOUND : MXDB_EIO, "%s: %s", path,
		               strerror(errno));
	char line[256];
	int got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!got)
		return mx_fail(err, MXDB_EINVAL, "%s: empty key file", path);

	/* "ed25519 <version> <seed>": the first line holds the current key */
	char alg[16], version[64], seed_b64[128];
	mxdb_status st = MXDB_OK;
	unsigned char seed[SEED_BYTES];
	if (sscanf(line, "%15s %63s %127s", alg, version, seed_b64) != 3)
		st = mx_fail(err, MXDB_EINVAL, "%s: expected 'ed25519 <version> <base64 seed>'", path);
	else if (strcmp(alg, "ed25519") != 0)
		st = mx_fail(err, MXDB_EINVAL, "%s: unsupported key algorithm '%s'", path, alg);
	else if (b64_decode(seed_b64, strlen(seed_b64), seed, sizeof(seed)) != SEED_BYTES)
		st = mx_fail(err, MXDB_EINVAL, "%s: the seed is not 32 bytes of base64", path);
	else
		st = key_from_seed(key, seed, version, err);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(seed_b64, sizeof(seed_b64));
	sodium_memzero(line, sizeof(line));
	return st;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Publishes the finished temporary file under path without replacing an
 * existing file: link() fails with EEXIST, where rename() would clobber. */
static mxdb_status publish(const char *tmp, const char *path, mxdb_error *err)
{
	if (link(tmp, path) == 0)
		return MXDB_OK;
	if (errno == EEXIST)
		return mx_fail(err, MXDB_EEXISTS, "%s: already exists; not overwriting a key", path);
	if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
		return mx_fail(err, MXDB_EIO, "%s: %s", path, strerror(errno));
	/* file systems without hard links: check, then rename (racy, but only there) */
	if (access(path, F_OK) == 0)
		return mx_fail(err, MXDB_EEXISTS, "%s: already exists; not overwriting a key", path);
	if (rename(tmp, path) != 0)
		return mx_fail(err, MXDB_EIO, "%s: %s", path, strerror(errno));
	return MXDB_OK;
}

/* Makes the new directory entry durable: a server that signed events with a
 * key must find the same key after a crash. Best effort. */
static void sync_dir_of(char *tmp_path)
{
	char *slash = strrchr(tmp_path, '/');
	const char *dir = ".";
	if (slash == tmp_path)
		dir = "/";
	else if (slash != NULL) {
		*slash = '\0';
		dir = tmp_path;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

mxdb_status key_save(const mx_key *key, const char *path, mxdb_error *err)
{
	const char *version = strchr(key->key_id, ':');
	if (version == NULL || strncmp(key->key_id, "ed25519:", 8) != 0)
		return mx_fail(err, MXDB_EINVAL, "bad key id '%s'", key->key_id);
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 8);
	if (tmp == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".XXXXXX", 8);

	char seed_b64[B64_ENCODED_SIZE(SEED_BYTES)], text[128];
	b64_encode(key->sk, SEED_BYTES, seed_b64); /* libsodium's sk = seed || pk */
	int n = snprintf(text, sizeof(text), "ed25519 %s %s\n", version + 1, seed_b64);
	sodium_memzero(seed_b64, sizeof(seed_b64));

	mxdb_status st = MXDB_OK;
	int fd = mkstemp(tmp); /* created 0600 */
	if (fd < 0) {
		st = mx_fail(err, MXDB_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, text, (size_t)n) != 0 || fsync(fd) != 0) {
		st = mx_fail(err, MXDB_EIO, "%s: %s", tmp, strerror(errno));
		close(fd);
	} else if (close(fd) != 0)
		st = mx_fail(err, MXDB_EIO, "%s: %s", tmp, strerror(errno));
	else
		st = publish(tmp, path, err);
	unlink(tmp); /* after link() the key lives on under path */
	if (st == MXDB_OK)
		sync_dir_of(tmp);
out:
	sodium_memzero(text, sizeof(text));
	free(tmp);
	return st;
}

mxdb_status key_load_or_create(mx_key *key, const char *path, mxdb_error *err)
{
	mxdb_status st = key_load(key, path, err);
	if (st != MXDB_ENOTFOUND)
		return st;
	if ((st = key_generate(key, err)) != MXDB_OK)
		return st;
	st = key_save(key, path, err);
	/* another process created it first: use theirs */
	if (st == MXDB_EEXISTS)
		return key_load(key, path, err);
	return st;
}

/* ---- signing JSON ------------------------------------------------------- */

/* The signed bytes leave out the two members that carry unsigned data. */
static const char *const unsigned_members[] = {"signatures", "unsigned", NULL};

mxdb_status key_sign_json(const mx_key *key, const char *server_name, json_t *obj,
                          mxdb_error *err)
{
	return key_sign_json_sha256(key, server_name, obj, NULL, err);
}

mxdb_status key_sign_json_sha256(const mx_key *key, const char *server_name, json_t *obj,
                                 unsigned char sha256[32], mxdb_error *err)
{
	if (!json_is_object(obj))
		return mx_fail(err, MXDB_EBADJSON, "only a JSON object can be signed");
	json_t *sigs = json_object_get(obj, "signatures");
	json_t *mine = sigs != NULL ? json_object_get(sigs, server_name) : NULL;
	if (sigs != NULL && !json_is_object(sigs))
		return mx_fail(err, MXDB_EBADJSON, "'signatures' is not an object");
	if (mine != NULL && !json_is_object(mine))
		return mx_fail(err, MXDB_EBADJSON, "'signatures.%s' is not an object", server_name);

	cj_buf buf = {0};
	mxdb_status st = cj_dump_buf_without(obj, unsigned_members, &buf, err);
	if (st != MXDB_OK) {
		cj_buf_free(&buf);
		return st;
	}
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)buf.data, buf.len, key->sk);
	if (sha256 != NULL)
		crypto_hash_sha256(sha256, (const unsigned char *)buf.data, buf.len);
	cj_buf_free(&buf);
	char sig_b64[B64_ENCODED_SIZE(crypto_sign_BYTES)];
	b64_encode(sig, sizeof(sig), sig_b64);

	if (sigs == NULL) {
		sigs = json_object();
		if (sigs == NULL || json_object_set_new(obj, "signatures", sigs) != 0)
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
	}
	if (mine == NULL) {
		mine = json_object();
		if (mine == NULL || json_object_set_new(sigs, server_name, mine) != 0)
			return mx_fail(err, MXDB_EINVAL, "bad server name '%s'", server_name);
	}
	if (json_object_set_new(mine, key->key_id, json_string(sig_b64)) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return MXDB_OK;
}

mxdb_status key_verify_json(const json_t *obj, const char *server_name, const char *key_id,
                            const unsigned char pk[32], mxdb_error *err)
{
	if (!json_is_object(obj))
		return mx_fail(err, MXDB_EBADJSON, "only a JSON object carries signatures");
	/* json_object_get answers NULL for a missing member or a non-object */
	json_t *by_server = json_object_get(json_object_get(obj, "signatures"), server_name);
	const char *sig_b64 = json_string_value(json_object_get(by_server, key_id));
	if (sig_b64 == NULL)
		return mx_fail(err, MXDB_ESIGNATURE, "no signature by %s with key %s", server_name,
		               key_id);
	unsigned char sig[crypto_sign_BYTES];
	if (b64_decode(sig_b64, strlen(sig_b64), sig, sizeof(sig)) != crypto_sign_BYTES)
		return mx_fail(err, MXDB_ESIGNATURE, "signature by %s with key %s is not 64 bytes of base64",
		               server_name, key_id);
	mxdb_status st = sodium_ready(err);
	if (st != MXDB_OK)
		return st;
	cj_buf buf = {0};
	if ((st = cj_dump_buf_without(obj, unsigned_members, &buf, err)) == MXDB_OK &&
	    crypto_sign_verify_detached(sig, (const unsigned char *)buf.data, buf.len, pk) != 0)
		st = mx_fail(err, MXDB_ESIGNATURE, "signature by %s with key %s does not verify",
		             server_name, key_id);
	cj_buf_free(&buf);
	return st;
}
