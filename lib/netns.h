/* Network namespaces and sysctls: enter a namespace by path, return to the original one. */
#ifndef K8C_NETNS_H
#define K8C_NETNS_H

#include "error.h"

/* Open a netns by path (/var/run/netns/x, /proc/PID/ns/net); returns an fd or -1. */
int k8c_netns_open(const char *path, struct k8c_error *err);
/* Switch this thread into netns fd; *saved receives an fd of the current one. */
int k8c_netns_enter(int fd, int *saved, struct k8c_error *err);
/* Go back to the saved netns and close it; aborts if that fails (continuing in the wrong
 * namespace would corrupt the host). */
void k8c_netns_restore(int *saved);
/* Write value to /proc/sys/<key> (key with '/' separators, e.g. "net/ipv4/ip_forward") in the
 * current netns. */
int k8c_sysctl_write(const char *key, const char *value, struct k8c_error *err);
/* Read /proc/sys/<key> into buf (trailing newline removed). */
int k8c_sysctl_read(const char *key, char *buf, size_t len, struct k8c_error *err);

#endif
