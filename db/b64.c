/*
 * b64.c: unpadded base64 (standard and URL-safe alphabets) over libsodium's
 * codec. Matrix writes base64 without padding but some peers pad, so the
 * decoders accept both. Owns no state; never allocates.
 */
#include <sodium.h>

#include "b64.h"

static void encode(const unsigned char *bin, size_t n, char *out, int variant)
{
	sodium_bin2base64(out, B64_ENCODED_SIZE(n), bin, n, variant);
}

/* libsodium's unpadded variants refuse '=' and its padded ones demand it, so
 * trailing padding is trimmed and the unpadded decoder does the rest. */
static long decode(const char *text, size_t len, unsigned char *bin, size_t cap, int variant)
{
	size_t pad = 0;
	while (len > 0 && pad < 2 && text[len - 1] == '=') {
		len--;
		pad++;
	}
	if (pad > 0 && (len + pad) % 4 != 0)
		return -1;
	size_t got;
	const char *end;
	if (sodium_base642bin(bin, cap, text, len, NULL, &got, &end, variant) != 0 ||
	    end != text + len)
		return -1;
	return (long)got;
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
