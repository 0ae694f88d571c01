/* Pulling from a registry (distribution API v2); filled in next. */
#include <errno.h>

#include "image_int.h"

int image_pull(struct k8c_image_store *s, const struct image_ref *ref,
	       const struct k8c_pull_auth *auth, struct k8c_error *err)
{
	return k8c_error_set(err, ENOSYS, "image %s: pulling is not implemented yet", ref->full);
}

int k8c_image_pull(struct k8c_image_store *s, const char *ref, const struct k8c_pull_auth *auth,
		   struct k8c_error *err)
{
	struct image_ref r;
	int rc;

	if (image_ref_parse(ref, &r, err) < 0)
		return -1;
	rc = image_pull(s, &r, auth, err);
	image_ref_clear(&r);
	return rc;
}
