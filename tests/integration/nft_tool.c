/* Test CLI over cni/nft_masq and cni/nft_macspoof, run inside a test's network namespace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipaddr.h"
#include "nft_macspoof.h"
#include "nft_masq.h"

static char **keep_ids;
static int keep_n;

static bool keep_listed(const char *container_id, const char *ifname, void *arg)
{
	for (int i = 0; i < keep_n; i++)
		if (strcmp(keep_ids[i], container_id) == 0)
			return true;
	return false;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: nft_tool masq-add|masq-del|masq-check NET CID IFNAME [IP/PREFIX...] "
		"[except PREFIX...]\n"
		"       nft_tool masq-gc|macspoof-gc NET [KEEP_CID...]\n"
		"       nft_tool macspoof-add|macspoof-check NET CID IFNAME HOSTIF MAC\n"
		"       nft_tool macspoof-del NET CID IFNAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_ipnet ips[8], except[8];
	size_t n = 0, n_except = 0, removed = 0;
	const char *cmd;
	int r;

	if (argc < 3)
		return usage();
	cmd = argv[1];
	if (strcmp(cmd, "masq-gc") == 0 || strcmp(cmd, "macspoof-gc") == 0) {
		keep_ids = argv + 3;
		keep_n = argc - 3;
		r = cmd[1] == 'a' ? cni_masq_gc(argv[2], keep_listed, NULL, &removed, &err)
				  : cni_macspoof_gc(argv[2], keep_listed, NULL, &removed, &err);
		if (r == 0)
			printf("removed %zu\n", removed);
	} else if (argc < 5) {
		return usage();
	} else if (strncmp(cmd, "masq-", 5) == 0) {
		bool ex = false;

		for (int i = 5; i < argc; i++) {
			if (strcmp(argv[i], "except") == 0) {
				ex = true;
				continue;
			}
			if ((ex ? n_except : n) == 8)
				return fprintf(stderr, "too many addresses\n"), 2;
			if (k8c_ipnet_parse(argv[i], 1, ex ? &except[n_except++] : &ips[n++]) < 0)
				return fprintf(stderr, "bad address %s\n", argv[i]), 2;
		}
		if (strcmp(cmd, "masq-add") == 0)
			r = cni_masq_add(argv[2], argv[3], argv[4], ips, n, except, n_except, &err);
		else if (strcmp(cmd, "masq-del") == 0)
			r = cni_masq_del(argv[2], argv[3], argv[4], n ? ips : NULL, n, &err);
		else if (strcmp(cmd, "masq-check") == 0)
			r = cni_masq_check(argv[2], argv[3], argv[4], ips, n, except, n_except,
					   &err);
		else
			return usage();
	} else if (strcmp(cmd, "macspoof-del") == 0) {
		r = cni_macspoof_del(argv[2], argv[3], argv[4], &err);
	} else if (argc == 7 && strcmp(cmd, "macspoof-add") == 0) {
		r = cni_macspoof_add(argv[2], argv[3], argv[4], argv[5], argv[6], &err);
	} else if (argc == 7 && strcmp(cmd, "macspoof-check") == 0) {
		r = cni_macspoof_check(argv[2], argv[3], argv[4], argv[5], argv[6], &err);
	} else {
		return usage();
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", cmd, err.msg ? err.msg : "failed");
		k8c_error_clear(&err);
		return 1;
	}
	return 0;
}
