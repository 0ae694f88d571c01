/*
 * The watch stream framer on arbitrary bytes: never crashes, and cutting the input at any point
 * (the first byte picks where) yields the same values as feeding it whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct acc {
	json_t *values;
};

static int collect(json_t *v, void *arg, struct k8c_error *err)
{
	struct acc *a = arg;

	json_array_append(a->values, v);
	return 0;
}

static int run(const char *p, size_t n, size_t cut, json_t *values)
{
	struct k8c_json_stream js = {.max = 1 << 16};
	struct k8c_error err = K8C_ERROR_INIT;
	struct acc a = {values};
	int r = k8c_json_stream_feed(&js, p, cut, collect, &a, &err);

	if (r == 0)
		r = k8c_json_stream_feed(&js, p + cut, n - cut, collect, &a, &err);
	k8c_json_stream_reset(&js);
	k8c_error_clear(&err);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *whole, *split;
	size_t cut;
	int r1, r2;

	if (size < 1)
		return 0;
	cut = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	if (cut > size)
		cut = size;
	whole = json_array();
	split = json_array();
	r1 = run((const char *)data, size, size, whole);
	r2 = run((const char *)data, size, cut, split);
	if (r1 != r2 || !json_equal(whole, split))
		abort();
	json_decref(whole);
	json_decref(split);
	return 0;
}
