/* Work that a short-lived command leaves to a detached process, so that its caller need not wait. */
#ifndef K8C_DETACH_H
#define K8C_DETACH_H

/*
 * Run fn(arg) (fn may be NULL) in a detached process and return at once: double fork, so it is
 * reparented and not waited for; its standard streams are /dev/null, so a caller reading our
 * stdout to EOF (a CNI runtime) does not wait for it either. It shares every other fd open at
 * the call. If fork fails, fn runs here. Returns 0, or -1 (errno) if nothing could run.
 */
int k8c_detach(void (*fn)(void *arg), void *arg);

#endif
