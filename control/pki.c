/*
 * The cluster PKI on OpenSSL 3: one CA signs the API server's serving certificate and the admin
 * client certificate. Files are checked on every start and only what is missing, unreadable,
 * near expiry or no longer matching the request is made again; a new CA invalidates every leaf.
 *
 * Every file is written to a temporary name opened O_CREAT|O_EXCL with its final mode, then
 * renamed, so a reader never sees a half-written key nor a key with a wider mode. A key is
 * written before its certificate: a crash in between leaves a pair that does not match, which
 * the next start detects and replaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cleanup.h"
#include "pki.h"

#define CA_DAYS	   3650
#define LEAF_DAYS  365
#define RENEW_DAYS 30
/* Backdate notBefore so that a peer whose clock is slightly behind accepts a fresh certificate. */
#define BACKDATE_SECONDS 3600

K8C_DEFINE_CLEANUP(pki_x509p, X509, X509_free)
K8C_DEFINE_CLEANUP(pki_pkeyp, EVP_PKEY, EVP_PKEY_free)
K8C_DEFINE_CLEANUP(pki_biop, BIO, BIO_free)
K8C_DEFINE_CLEANUP(pki_namep, X509_NAME, X509_NAME_free)
K8C_DEFINE_CLEANUP(pki_bnp, BIGNUM, BN_free)
K8C_DEFINE_CLEANUP(pki_gensp, GENERAL_NAMES, GENERAL_NAMES_free)
K8C_DEFINE_CLEANUP(pki_genp, GENERAL_NAME, GENERAL_NAME_free)

#define _cleanup_x509_ __attribute__((cleanup(pki_x509p)))
#define _cleanup_pkey_ __attribute__((cleanup(pki_pkeyp)))
#define _cleanup_bio_  __attribute__((cleanup(pki_biop)))
#define _cleanup_name_ __attribute__((cleanup(pki_namep)))
#define _cleanup_bn_   __attribute__((cleanup(pki_bnp)))
#define _cleanup_gens_ __attribute__((cleanup(pki_gensp)))
#define _cleanup_gen_  __attribute__((cleanup(pki_genp)))

enum pki_kind { KIND_CA, KIND_SERVER, KIND_ADMIN };

/* A certificate and its key, parsed, with the exact PEM bytes that are (or go) on disk. */
struct pair {
	X509 *crt;
	EVP_PKEY *key;
	char *crt_pem, *key_pem;
	size_t crt_len, key_len;
};

static void pair_release(struct pair *p)
{
	X509_free(p->crt);
	EVP_PKEY_free(p->key);
	free(p->crt_pem);
	if (p->key_pem)
		OPENSSL_cleanse(p->key_pem, p->key_len);
	free(p->key_pem);
	memset(p, 0, sizeof(*p));
}

/* Set err from the newest OpenSSL error and empty the queue, so stale errors never leak into a
 * later message. */
static int ossl_error(struct k8c_error *err, const char *what)
{
	char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown OpenSSL error");
	ERR_clear_error();
	return k8c_error_set(err, 0, "%s: %s", what, buf);
}

static int read_all(const char *path, char **out, size_t *out_len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return -1;
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = k8c_xrealloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		return -1;
	buf[len] = '\0';
	*out = k8c_steal_ptr(buf);
	*out_len = len;
	return 0;
}

/* Never prompt for a passphrase (OpenSSL's default callback reads the terminal). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Load a pair whose key matches its certificate; any failure just means "make a new one". */
static int pair_load(const char *crt_path, const char *key_path, struct pair *p)
{
	_cleanup_bio_ BIO *cb = NULL, *kb = NULL;

	if (read_all(crt_path, &p->crt_pem, &p->crt_len) < 0 ||
	    read_all(key_path, &p->key_pem, &p->key_len) < 0)
		goto fail;
	cb = BIO_new_mem_buf(p->crt_pem, (int)p->crt_len);
	kb = BIO_new_mem_buf(p->key_pem, (int)p->key_len);
	if (!cb || !kb)
		goto fail;
	p->crt = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL);
	p->key = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL);
	if (!p->crt || !p->key || X509_check_private_key(p->crt, p->key) != 1)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	pair_release(p);
	return -1;
}

/* Usable now and for at least RENEW_DAYS more. */
static bool time_ok(X509 *crt)
{
	time_t limit = time(NULL) + (time_t)RENEW_DAYS * 86400;

	return X509_cmp_current_time(X509_get0_notBefore(crt)) < 0 &&
	       X509_cmp_time(X509_get0_notAfter(crt), &limit) > 0;
}

static bool ca_usable(const struct pair *ca)
{
	return time_ok(ca->crt) && X509_check_ca(ca->crt) == 1;
}

static bool leaf_usable(const struct pair *leaf, const struct pair *ca,
			const struct pki_request *req, enum pki_kind kind)
{
	bool ok = time_ok(leaf->crt) && X509_check_issued(ca->crt, leaf->crt) == X509_V_OK &&
		  X509_verify(leaf->crt, X509_get0_pubkey(ca->crt)) == 1;

	for (size_t i = 0; ok && kind == KIND_SERVER && i < req->n_san_ips; i++)
		ok = X509_check_ip_asc(leaf->crt, req->san_ips[i], 0) == 1;
	for (size_t i = 0; ok && kind == KIND_SERVER && i < req->n_san_dns; i++)
		ok = X509_check_host(leaf->crt, req->san_dns[i], 0,
				     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
					     X509_CHECK_FLAG_NO_WILDCARDS,
				     NULL) == 1;
	ERR_clear_error();
	return ok;
}

static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value, struct k8c_error *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int r;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return ossl_error(err, OBJ_nid2sn(nid));
	r = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return r == 1 ? 0 : ossl_error(err, OBJ_nid2sn(nid));
}

/* SANs built as GENERAL_NAMEs rather than a config string, so no name can inject syntax. */
static int add_sans(X509 *crt, const struct pki_request *req, struct k8c_error *err)
{
	_cleanup_gens_ GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

	if (!gens)
		return ossl_error(err, "subjectAltName");
	for (size_t i = 0; i < req->n_san_ips; i++) {
		_cleanup_gen_ GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(req->san_ips[i]);

		if (!ip) {
			ERR_clear_error();
			return k8c_error_set(err, 0, "invalid SAN IP address \"%s\"",
					     req->san_ips[i]);
		}
		if (!g) {
			ASN1_OCTET_STRING_free(ip);
			return ossl_error(err, "subjectAltName");
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		if (!sk_GENERAL_NAME_push(gens, g))
			return ossl_error(err, "subjectAltName");
		g = NULL;
	}
	for (size_t i = 0; i < req->n_san_dns; i++) {
		_cleanup_gen_ GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (!req->san_dns[i][0]) {
			ASN1_IA5STRING_free(s);
			return k8c_error_set(err, 0, "empty SAN DNS name");
		}
		if (!g || !s || ASN1_STRING_set(s, req->san_dns[i], -1) != 1) {
			ASN1_IA5STRING_free(s);
			return ossl_error(err, "subjectAltName");
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		if (!sk_GENERAL_NAME_push(gens, g))
			return ossl_error(err, "subjectAltName");
		g = NULL;
	}
	if (sk_GENERAL_NAME_num(gens) == 0)
		return 0;
	if (X509_add1_ext_i2d(crt, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		return ossl_error(err, "subjectAltName");
	return 0;
}

static int set_serial(X509 *crt, struct k8c_error *err)
{
	unsigned char raw[16];
	_cleanup_bn_ BIGNUM *bn = NULL;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ossl_error(err, "random serial");
	/* A zero serial is invalid (RFC 5280 4.1.2.2); 2^-128 odds, but cheap to exclude. */
	raw[sizeof(raw) - 1] |= 1;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)))
		return ossl_error(err, "serial");
	return 0;
}

static int build_cert(enum pki_kind kind, const struct pki_request *req, const struct pair *ca,
		      EVP_PKEY *key, X509 **out, struct k8c_error *err)
{
	_cleanup_x509_ X509 *crt = X509_new();
	_cleanup_name_ X509_NAME *name = X509_NAME_new();
	X509 *issuer;
	const char *cn = kind == KIND_CA       ? "k8c-ca"
			 : kind == KIND_SERVER ? "kube-apiserver"
					       : "kubernetes-admin";

	if (!crt || !name)
		return ossl_error(err, "allocate certificate");
	if (kind == KIND_ADMIN &&
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"system:masters", -1, -1, 0))
		return ossl_error(err, "subject");
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0))
		return ossl_error(err, "subject");
	if (set_serial(crt, err) < 0)
		return -1;
	if (X509_set_version(crt, X509_VERSION_3) != 1 || X509_set_subject_name(crt, name) != 1 ||
	    X509_set_issuer_name(crt, kind == KIND_CA ? name : X509_get_subject_name(ca->crt)) !=
		    1 ||
	    X509_set_pubkey(crt, key) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), -BACKDATE_SECONDS) ||
	    !X509_time_adj_ex(X509_getm_notAfter(crt), kind == KIND_CA ? CA_DAYS : LEAF_DAYS, 0,
			      NULL))
		return ossl_error(err, "certificate fields");

	issuer = kind == KIND_CA ? crt : ca->crt;
	if (kind == KIND_CA) {
		if (add_ext(crt, issuer, NID_basic_constraints, "critical,CA:TRUE", err) < 0 ||
		    add_ext(crt, issuer, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0 ||
		    add_ext(crt, issuer, NID_subject_key_identifier, "hash", err) < 0)
			return -1;
	} else {
		if (add_ext(crt, issuer, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
		    /* ECDSA only signs; keyEncipherment is an RSA key-transport usage. */
		    add_ext(crt, issuer, NID_key_usage, "critical,digitalSignature", err) < 0 ||
		    add_ext(crt, issuer, NID_ext_key_usage,
			    kind == KIND_SERVER ? "serverAuth" : "clientAuth", err) < 0 ||
		    add_ext(crt, issuer, NID_subject_key_identifier, "hash", err) < 0 ||
		    add_ext(crt, issuer, NID_authority_key_identifier, "keyid:always", err) < 0)
			return -1;
		if (kind == KIND_SERVER && add_sans(crt, req, err) < 0)
			return -1;
	}
	if (X509_sign(crt, kind == KIND_CA ? key : ca->key, EVP_sha256()) <= 0)
		return ossl_error(err, "sign");
	*out = k8c_steal_ptr(crt);
	return 0;
}

static int bio_to_string(BIO *b, char **out, size_t *len, struct k8c_error *err)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0)
		return ossl_error(err, "PEM encode");
	*out = k8c_xmalloc((size_t)n + 1);
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int pair_generate(enum pki_kind kind, const struct pki_request *req, const struct pair *ca,
			 struct pair *p, struct k8c_error *err)
{
	_cleanup_bio_ BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());

	p->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!p->key)
		return ossl_error(err, "generate P-256 key");
	if (build_cert(kind, req, ca, p->key, &p->crt, err) < 0)
		goto fail;
	if (!cb || !kb || PEM_write_bio_X509(cb, p->crt) != 1 ||
	    PEM_write_bio_PrivateKey(kb, p->key, NULL, NULL, 0, NULL, NULL) != 1) {
		ossl_error(err, "PEM encode");
		goto fail;
	}
	if (bio_to_string(cb, &p->crt_pem, &p->crt_len, err) < 0 ||
	    bio_to_string(kb, &p->key_pem, &p->key_len, err) < 0)
		goto fail;
	return 0;
fail:
	pair_release(p);
	return -1;
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			struct k8c_error *err)
{
	_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp.%ld", path, (long)getpid());
	_cleanup_close_ int fd = -1;
	const char *p = data;

	/* A leftover from a crash of this same pid number would make O_EXCL fail forever. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return k8c_error_errno(err, 0, errno, "write %s: remove %s", path, tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return k8c_error_errno(err, 0, errno, "write %s", path);
	/* The umask may have narrowed the mode; certificates are meant to be world-readable. */
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(k8c_steal_fd(fd)) < 0 || rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	k8c_error_errno(err, 0, errno, "write %s", path);
	unlink(tmp);
	return -1;
}

static int pair_save(const struct pair *p, const char *crt_path, const char *key_path,
		     struct k8c_error *err)
{
	if (write_atomic(key_path, p->key_pem, p->key_len, 0600, err) < 0)
		return -1;
	return write_atomic(crt_path, p->crt_pem, p->crt_len, 0644, err);
}

static int ensure_dir(const char *path, struct k8c_error *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return k8c_error_errno(err, 0, errno, "create directory %s", path);
	if (stat(path, &st) < 0)
		return k8c_error_errno(err, 0, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return k8c_error_errno(err, 0, ENOTDIR, "create directory %s", path);
	return 0;
}

static int fsync_dir(const char *path, struct k8c_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return k8c_error_errno(err, 0, errno, "sync directory %s", path);
	return 0;
}

static char *base64(const char *data, size_t len)
{
	char *out = k8c_xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return out;
}

/* A YAML double-quoted scalar (JSON string syntax is valid YAML), so any name or URL is safe. */
static void yaml_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int write_kubeconfig(const char *path, const struct pki_request *req, const struct pair *ca,
			    const struct pair *admin, struct k8c_error *err)
{
	const char *name = req->cluster_name && req->cluster_name[0] ? req->cluster_name : "k8c";
	_cleanup_free_ char *ca_b64 = base64(ca->crt_pem, ca->crt_len);
	_cleanup_free_ char *crt_b64 = base64(admin->crt_pem, admin->crt_len);
	_cleanup_free_ char *key_b64 = base64(admin->key_pem, admin->key_len);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		abort();
	fprintf(f, "apiVersion: v1\nkind: Config\nclusters:\n- name: ");
	yaml_quoted(f, name);
	fprintf(f, "\n  cluster:\n    server: ");
	yaml_quoted(f, req->server_url);
	fprintf(f, "\n    certificate-authority-data: %s\n", ca_b64);
	fprintf(f, "users:\n- name: admin\n  user:\n");
	fprintf(f, "    client-certificate-data: %s\n", crt_b64);
	fprintf(f, "    client-key-data: %s\n", key_b64);
	fprintf(f, "contexts:\n- name: ");
	yaml_quoted(f, name);
	fprintf(f, "\n  context:\n    cluster: ");
	yaml_quoted(f, name);
	fprintf(f, "\n    user: admin\ncurrent-context: ");
	yaml_quoted(f, name);
	fprintf(f, "\npreferences: {}\n");
	if (fclose(f) != 0)
		abort();
	r = write_atomic(path, buf, len, 0600, err);
	OPENSSL_cleanse(buf, len);
	OPENSSL_cleanse(key_b64, strlen(key_b64));
	return r;
}

static char *absolute_dir(const char *dir)
{
	char cwd[PATH_MAX];
	size_t len = strlen(dir);
	char *abs;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (dir[0] == '/')
		return k8c_xasprintf("%.*s", (int)len, dir);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	abs = k8c_xasprintf("%s/%.*s", cwd, (int)len, dir);
	return abs;
}

/* Reuse the leaf when it is still good under this CA and request, otherwise make and save one. */
static int ensure_leaf(enum pki_kind kind, const struct pki_request *req, const struct pair *ca,
		       bool fresh_ca, const char *crt_path, const char *key_path, struct pair *leaf,
		       struct k8c_error *err)
{
	if (!fresh_ca && pair_load(crt_path, key_path, leaf) == 0) {
		if (leaf_usable(leaf, ca, req, kind))
			return 0;
		pair_release(leaf);
	}
	if (pair_generate(kind, req, ca, leaf, err) < 0)
		return k8c_error_wrap(err, "%s", crt_path);
	return pair_save(leaf, crt_path, key_path, err);
}

static int ensure_all(const struct pki_request *req, struct pki_paths *paths, const char *data_dir,
		      const char *pki_dir, struct k8c_error *err)
{
	struct pair ca = {0}, server = {0}, admin = {0};
	bool fresh_ca = false;
	int r = -1;

	if (pair_load(paths->ca_crt, paths->ca_key, &ca) < 0 || !ca_usable(&ca)) {
		pair_release(&ca);
		fresh_ca = true;
		if (pair_generate(KIND_CA, req, NULL, &ca, err) < 0) {
			k8c_error_wrap(err, "%s", paths->ca_crt);
			goto out;
		}
		if (pair_save(&ca, paths->ca_crt, paths->ca_key, err) < 0)
			goto out;
	}
	if (ensure_leaf(KIND_SERVER, req, &ca, fresh_ca, paths->server_crt, paths->server_key,
			&server, err) < 0 ||
	    ensure_leaf(KIND_ADMIN, req, &ca, fresh_ca, paths->admin_crt, paths->admin_key, &admin,
			err) < 0 ||
	    write_kubeconfig(paths->kubeconfig, req, &ca, &admin, err) < 0 ||
	    fsync_dir(pki_dir, err) < 0 || fsync_dir(data_dir, err) < 0)
		goto out;
	r = 0;
out:
	pair_release(&ca);
	pair_release(&server);
	pair_release(&admin);
	return r;
}

int pki_ensure(const struct pki_request *req, struct pki_paths *out, struct k8c_error *err)
{
	_cleanup_free_ char *data_dir = NULL, *pki_dir = NULL;
	struct pki_paths paths;

	memset(out, 0, sizeof(*out));
	if (!req->data_dir || !req->data_dir[0] || !req->server_url)
		return k8c_error_set(err, 0, "pki: data directory and server URL are required");
	if ((req->n_san_ips && !req->san_ips) || (req->n_san_dns && !req->san_dns))
		return k8c_error_set(err, 0, "pki: SAN count without a SAN array");
	data_dir = absolute_dir(req->data_dir);
	if (!data_dir)
		return k8c_error_errno(err, 0, errno, "pki: resolve %s", req->data_dir);
	pki_dir = k8c_xasprintf("%s/pki", data_dir);
	if (ensure_dir(data_dir, err) < 0 || ensure_dir(pki_dir, err) < 0)
		return k8c_error_wrap(err, "pki");

	paths = (struct pki_paths){
		.ca_crt = k8c_xasprintf("%s/ca.crt", pki_dir),
		.ca_key = k8c_xasprintf("%s/ca.key", pki_dir),
		.server_crt = k8c_xasprintf("%s/server.crt", pki_dir),
		.server_key = k8c_xasprintf("%s/server.key", pki_dir),
		.admin_crt = k8c_xasprintf("%s/admin.crt", pki_dir),
		.admin_key = k8c_xasprintf("%s/admin.key", pki_dir),
		.kubeconfig = k8c_xasprintf("%s/admin.kubeconfig", data_dir),
	};
	if (ensure_all(req, &paths, data_dir, pki_dir, err) < 0) {
		pki_paths_free(&paths);
		return k8c_error_wrap(err, "pki");
	}
	*out = paths;
	return 0;
}

void pki_paths_free(struct pki_paths *p)
{
	if (!p)
		return;
	free(p->ca_crt);
	free(p->ca_key);
	free(p->server_crt);
	free(p->server_key);
	free(p->admin_crt);
	free(p->admin_key);
	free(p->kubeconfig);
	memset(p, 0, sizeof(*p));
}
