/* Layer unpacking (registry and archive input) on arbitrary bytes, into a fresh directory: an error
 * with a message or a tree, never a crash; nothing is written beside the directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[256];

static void remove_base(void)
{
	image_remove_tree(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8c_error err = K8C_ERROR_INIT;
	char blob[300], dest[300], outside[300];
	struct stat st;
	FILE *f;

	if (!base[0]) {
		const char *dir = getenv("K8C_FUZZ_DIR");

		snprintf(base, sizeof(base), "%s/layer", dir ? dir : "/tmp");
		if (mkdir(base, 0700) < 0)
			abort();
		atexit(remove_base);
	}
	snprintf(blob, sizeof(blob), "%s/blob", base);
	snprintf(dest, sizeof(dest), "%s/dest", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	f = fopen(blob, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (mkdir(dest, 0755) < 0)
		abort();
	if (image_layer_unpack(blob, dest, NULL, NULL, &err) < 0 && !err.msg)
		abort();
	k8c_error_clear(&err);
	/* Only blob and dest may exist in base. */
	if (lstat(outside, &st) == 0)
		abort();
	image_remove_tree(dest);
	unlink(blob);
	return 0;
}
