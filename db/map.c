/*
 * map.c: the open-addressing hash map of map.h. Owns its slot array and key
 * copies; never owns values except through map_free's destructor.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

typedef struct slot {
	char *key;   /* NULL: empty; TOMBSTONE: deleted */
	size_t klen;
	uint64_t hash;
	void *value;
} slot;

struct mx_map {
	slot *slots;
	size_t cap;   /* a power of two */
	size_t count; /* live entries */
	size_t used;  /* live + tombstones */
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static uint64_t hash_bytes(const char *p, size_t n)
{
	/* FNV-1a with a final avalanche: cheap, and good enough for keys that
	 * are event IDs and state keys. */
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

mx_map *map_new(size_t expected)
{
	mx_map *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	size_t cap = 16;
	while (cap < expected * 2)
		cap *= 2;
	m->slots = calloc(cap, sizeof(slot));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	m->cap = cap;
	return m;
}

void map_free(mx_map *m, void (*free_value)(void *))
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		slot *s = &m->slots[i];
		if (s->key != NULL && s->key != TOMBSTONE) {
			free(s->key);
			if (free_value != NULL)
				free_value(s->value);
		}
	}
	free(m->slots);
	free(m);
}

size_t map_count(const mx_map *m)
{
	return m->count;
}

static slot *find(const mx_map *m, const char *key, size_t klen, uint64_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		slot *s = &m->slots[i];
		if (s->key == NULL)
			return NULL;
		if (s->key != TOMBSTONE && s->hash == h && s->klen == klen &&
		    memcmp(s->key, key, klen) == 0)
			return s;
	}
}

void *map_get(const mx_map *m, const char *key, size_t klen)
{
	slot *s = find(m, key, klen, hash_bytes(key, klen));
	return s != NULL ? s->value : NULL;
}

bool map_has(const mx_map *m, const char *key, size_t klen)
{
	return find(m, key, klen, hash_bytes(key, klen)) != NULL;
}

static int grow(mx_map *m)
{
	size_t ncap = m->count * 4 > m->cap ? m->cap * 2 : m->cap; /* else: just purge tombstones */
	slot *ns = calloc(ncap, sizeof(slot));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		slot *s = &m->slots[i];
		if (s->key == NULL || s->key == TOMBSTONE)
			continue;
		size_t j = s->hash & (ncap - 1);
		while (ns[j].key != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	m->used = m->count;
	return 0;
}

int map_put(mx_map *m, const char *key, size_t klen, void *value, void **old)
{
	uint64_t h = hash_bytes(key, klen);
	slot *s = find(m, key, klen, h);
	if (s != NULL) {
		if (old != NULL)
			*old = s->value;
		s->value = value;
		return 0;
	}
	if (old != NULL)
		*old = NULL;
	if ((m->used + 1) * 4 > m->cap * 3 && grow(m) != 0)
		return -1;
	char *copy = malloc(klen + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, key, klen);
	copy[klen] = '\0';
	size_t mask = m->cap - 1;
	size_t i = h & mask;
	while (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE)
		i = (i + 1) & mask;
	if (m->slots[i].key == NULL)
		m->used++;
	m->slots[i] = (slot){copy, klen, h, value};
	m->count++;
	return 0;
}

void *map_del(mx_map *m, const char *key, size_t klen)
{
	slot *s = find(m, key, klen, hash_bytes(key, klen));
	if (s == NULL)
		return NULL;
	void *v = s->value;
	free(s->key);
	s->key = TOMBSTONE;
	s->value = NULL;
	m->count--;
	return v;
}

bool map_next(const mx_map *m, size_t *it, const char **key, size_t *klen, void **value)
{
	for (size_t i = *it; i < m->cap; i++) {
		slot *s = &m->slots[i];
		if (s->key == NULL || s->key == TOMBSTONE)
			continue;
		*it = i + 1;
		if (key != NULL)
			*key = s->key;
		if (klen != NULL)
			*klen = s->klen;
		if (value != NULL)
			*value = s->value;
		return true;
	}
	*it = m->cap;
	return false;
}

size_t map_state_key(char *buf, size_t cap, const char *type, const char *state_key)
{
	size_t tl = strlen(type), sl = strlen(state_key);
	if (tl + 1 + sl + 1 > cap)
		return 0;
	memcpy(buf, type, tl);
	buf[tl] = '\0';
	memcpy(buf + tl + 1, state_key, sl);
	buf[tl + 1 + sl] = '\0';
	return tl + 1 + sl;
}

void map_state_key_split(const char *key, size_t klen, const char **type, const char **state_key)
{
	(void)klen;
	*type = key;
	*state_key = key + strlen(key) + 1;
}
