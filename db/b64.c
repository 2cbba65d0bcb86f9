/*
 * b64.c: unpadded base64 (standard and URL-safe alphabets) over libsodium's
 * codec. Matrix writes base64 without padding but some peers pad, so the
 * decoders accept both. Owns no state; never allocates.
 */
#include <string.h>

#include <sodium.h>

#include "b64.h"

static void encode(const unsigned char *bin, size_t n, char *out, int variant)
{
	sodium_bin2base64(out, B64_ENCODED_SIZE(n), bin, n, variant);
}

static int sextet(char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static long decode(const char *text, size_t len, unsigned char *bin, size_t cap, int variant)
{
	/* libsodium's unpadded variants refuse '=' and its padded ones demand
	 * it, so padding is trimmed here and the unpadded decoder does the rest */
	size_t pad = 0;
	while (len > 0 && pad < 2 && text[len - 1] == '=') {
		len--;
		pad++;
	}
	size_t rem = len % 4, head = len - rem, got = 0, tail_got = 0;
	if (rem == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	const char *end;
	if (sodium_base642bin(bin, cap, text, head, NULL, &got, &end, variant) != 0 ||
	    end != text + head)
		return -1;
	if (rem == 0)
		return (long)got;
	/* libsodium also refuses non-zero unused bits in the last character;
	 * Python's decoder ignores them and the spec's own test seed has them,
	 * so they are cleared before the final group is decoded */
	int url = variant == sodium_base64_VARIANT_URLSAFE_NO_PADDING;
	static const char alphabet[2][65] = {
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
	};
	char tail[3];
	memcpy(tail, text + head, rem);
	int last = sextet(tail[rem - 1], url);
	if (last < 0)
		return -1;
	tail[rem - 1] = alphabet[url][last & (rem == 2 ? 0x30 : 0x3c)];
	if (sodium_base642bin(bin + got, cap - got, tail, rem, NULL, &tail_got, &end, variant) != 0 ||
	    end != tail + rem)
		return -1;
	return (long)(got + tail_got);
}

void b64_encode(const unsigned char *bin, size_t n, char *out)
{
	encode(bin, n, out, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

void b64_encode_url(const unsigned char *bin, size_t n, char *out)
{
	encode(bin, n, out, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

long b64_decode(const char *text, size_t len, unsigned char *bin, size_t cap)
{
	return decode(text, len, bin, cap, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

long b64_decode_url(const char *text, size_t len, unsigned char *bin, size_t cap)
{
	return decode(text, len, bin, cap, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
