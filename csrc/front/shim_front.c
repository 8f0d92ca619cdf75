/*
 * containerd-shim-pyshim-v1: a native front for the shim's `start` and `delete`.
 *
 * containerd execs the shim binary for every new container (and every pod) and waits
 * for `start` to print the socket address, and (1.6) runs `delete` after every shim
 * exits. A CPython start is ~10 ms before any work; this front does the common `start`
 * and the `delete` with nothing left to clean natively, in about a millisecond, and hands
 * every other invocation (the daemon, `-v`, grouped or configured starts, a delete with
 * work to do) to the Python shim (SHIM_SCRIPT) with exec, unchanged.
 *
 * The fast path is taken only when all of these hold, else nothing is done and the
 * Python `start` runs (it is the reference: shim/shimv2/start.py, spec section 4):
 *   - argv is `-namespace N -address A -publish-binary P -id I [-debug] start`, each flag
 *     once (`-f v`, `-f=v`, `--f`), and SHIM_NO_ZYGOTE is not 1;
 *   - no runtime options on stdin (they could set the grouping or the state root);
 *   - config.json names none of the grouping annotations (and has no \u escape that could
 *     spell one), so the group is the container id;
 *   - the warm zygote (shim/shimv2/zygote.py) answers on the socket named after the
 *     installed code's fingerprint (SHIM_PACKAGE, digested exactly as zygote.fingerprint);
 *   - the socket path is free.
 * Then, as the Python start does: listen on /run/containerd/s/<sha256>, write
 * `runtime-root`, have the zygote fork the daemon onto the listener, give it
 * containerd's oom_score_adj + 1, write `address`, print it. A failure after the socket
 * was bound undoes the bind and falls back too; only the OOM score write fails `start`
 * (as in Python). `delete`: see fast_delete.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SHIM_SCRIPT
#error "SHIM_SCRIPT: the Python shim script to exec for everything else"
#endif
#ifndef SHIM_PACKAGE
#error "SHIM_PACKAGE: the installed shim package directory (shim.__file__'s)"
#endif

#define SOCKET_DIR "/run/containerd/s"
#define SOCKET_PATH_LIMIT 106
#define ZYGOTE_DIR "/run/containerd/pyshim"
#define RUNTIME_ROOT "/run/containerd/pyshim"
#define MAX_STDIN (16 << 20)
#define MAX_CONFIG (64 << 20)
#define MAX_REQUEST (64 << 10)
#define ZYGOTE_TIMEOUT_S 30

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------ */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t used;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, iv, sizeof iv);
	s->len = 0;
	s->used = 0;
}

static void sha_update(struct sha256 *s, const void *data, size_t n)
{
	const unsigned char *p = data;
	s->len += n;
	while (n) {
		size_t take = 64 - s->used < n ? 64 - s->used : n;
		memcpy(s->buf + s->used, p, take);
		s->used += take, p += take, n -= take;
		if (s->used == 64) {
			sha_block(s, s->buf);
			s->used = 0;
		}
	}
}

/* The lowercase hex digest, 64 characters and a NUL. */
static void sha_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, zero = 0, be[8];
	sha_update(s, &pad, 1);
	while (s->used != 56)
		sha_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha_update(s, be, 8);
	for (int i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* ---- small helpers ------------------------------------------------------------------- */

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown)
			return -1;
		b->data = grown, b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

static int buf_str(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

/* A JSON string literal of s (bytes >= 0x80 pass through: the zygote decodes UTF-8). */
static int buf_json(struct buf *b, const char *s)
{
	if (buf_str(b, "\""))
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof esc, "\\%c", c);
		else if (c < 0x20)
			snprintf(esc, sizeof esc, "\\u%04x", c);
		else
			esc[0] = (char)c, esc[1] = 0;
		if (buf_str(b, esc))
			return -1;
	}
	return buf_str(b, "\"");
}

/* All of fd up to limit bytes; -1 past the limit or on a read error. */
static int read_all(int fd, struct buf *out, size_t limit)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > limit || buf_add(out, chunk, (size_t)n))
			return -1;
	}
}

static int write_all(int fd, const char *data, size_t n)
{
	while (n) {
		ssize_t w = write(fd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w, n -= (size_t)w;
	}
	return 0;
}

/* As start.write_atomic: <dir>/.<name> written, fsynced, renamed over <dir>/<name>. */
static int write_atomic(const char *name, const char *text)
{
	char tmp[256];
	snprintf(tmp, sizeof tmp, ".%s", name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int bad = write_all(fd, text, strlen(text)) || fsync(fd);
	close(fd);
	return bad ? -1 : rename(tmp, name);
}

/* ---- what the Python side computes ------------------------------------------------- */

/* zygote.fingerprint(): every .py and .so below the package ("path\0size\0mtime_ns\n"),
 * directories taken from one stack (last pushed first), each directory's entries in name
 * order, __pycache__ skipped. The first 16 hex digits. */
struct name_list {
	char **names;
	size_t n, cap;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int push(struct name_list *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **grown = realloc(l->names, cap * sizeof *grown);
		if (!grown)
			return -1;
		l->names = grown, l->cap = cap;
	}
	if (!(l->names[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

static void free_list(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	l->names = NULL, l->n = l->cap = 0;
}

static int fingerprint(const char *root, char out[17])
{
	struct name_list stack = {0}, entries = {0};
	struct sha256 sha;
	char full[4096], line[4352], hex[65];
	int rc = -1;
	sha_init(&sha);
	if (push(&stack, root))
		goto out;
	while (stack.n) {
		char *dir = stack.names[--stack.n];
		DIR *d = opendir(dir);
		if (!d) {
			free(dir);
			goto out;
		}
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && push(&entries, e->d_name)) {
				closedir(d);
				free(dir);
				goto out;
			}
		closedir(d);
		qsort(entries.names, entries.n, sizeof *entries.names, by_name);
		for (size_t i = 0; i < entries.n; i++) {
			struct stat st;
			const char *name = entries.names[i];
			snprintf(full, sizeof full, "%s/%s", dir, name);
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
				if (strcmp(name, "__pycache__") && push(&stack, full)) {
					free(dir);
					goto out;
				}
			} else if (ends_with(name, ".py") || ends_with(name, ".so")) {
				if (stat(full, &st)) {
					free(dir);
					goto out;
				}
				int n = snprintf(line, sizeof line, "%s%c%lld%c%lld\n", full, 0,
						 (long long)st.st_size, 0,
						 (long long)st.st_mtim.tv_sec * 1000000000LL +
							 st.st_mtim.tv_nsec);
				sha_update(&sha, line, (size_t)n);
			}
		}
		free_list(&entries);
		free(dir);
	}
	sha_hex(&sha, hex);
	memcpy(out, hex, 16);
	out[16] = 0;
	rc = 0;
out:
	free_list(&entries);
	free_list(&stack);
	return rc;
}

/* grouping.socket_path for group = id: /run/containerd/s/<sha256 of Go's
 * filepath.Join(address, namespace, id)>. The join keeps a leading "/" and drops empty
 * and "." segments (no ".." resolution: ids carry no slashes). */
static int socket_path(const char *address, const char *ns, const char *id, char *out,
		       size_t size)
{
	struct buf joined = {0}, cleaned = {0};
	struct sha256 sha;
	char hex[65];
	const char *parts[] = {address, ns, id};
	for (int i = 0; i < 3; i++)
		if (*parts[i] && ((joined.len && buf_str(&joined, "/")) || buf_str(&joined, parts[i])))
			goto fail;
	if (joined.len && joined.data[0] == '/' && buf_str(&cleaned, "/"))
		goto fail;
	for (char *seg = joined.data ? strtok(joined.data, "/") : NULL; seg;
	     seg = strtok(NULL, "/")) {
		if (!strcmp(seg, "."))
			continue;
		if (cleaned.len && cleaned.data[cleaned.len - 1] != '/' && buf_str(&cleaned, "/"))
			goto fail;
		if (buf_str(&cleaned, seg))
			goto fail;
	}
	sha_init(&sha);
	sha_update(&sha, cleaned.data ? cleaned.data : "", cleaned.len);
	sha_hex(&sha, hex);
	free(joined.data);
	free(cleaned.data);
	return (size_t)snprintf(out, size, "%s/%s", SOCKET_DIR, hex) >= size ? -1 : 0;
fail:
	free(joined.data);
	free(cleaned.data);
	return -1;
}

/* ---- config.json: is it plainly valid? -------------------------------------------- */

/* Strict JSON over ASCII, nested at most MAX_DEPTH deep: 0 when `text` is that. Anything
 * else (an error, or merely non-ASCII text or deep nesting) is for the Python start,
 * which reports it or handles it exactly. */
#define MAX_DEPTH 200

struct scan {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int is_digit(struct scan *s) { return s->p < s->end && *s->p >= '0' && *s->p <= '9'; }

static int scan_string(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"')
		return -1;
	for (s->p++; s->p < s->end;) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return 0;
		if (c < 0x20 || c >= 0x80)
			return -1;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return -1;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, s->p++)
				if (s->p >= s->end || !strchr("0123456789abcdefABCDEF", *s->p) || !*s->p)
					return -1;
		} else if (!c || !strchr("\"\\/bfnrt", c)) {
			return -1;
		}
	}
	return -1;
}

static int scan_number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (!is_digit(s))
		return -1;
	if (*s->p++ != '0')
		while (is_digit(s))
			s->p++;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!is_digit(s))
			return -1;
		while (is_digit(s))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!is_digit(s))
			return -1;
		while (is_digit(s))
			s->p++;
	}
	return 0;
}

static int scan_word(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
		return -1;
	s->p += n;
	return 0;
}

static int scan_value(struct scan *s);

/* The members of an object ('}' closes) or the items of an array (']'). */
static int scan_members(struct scan *s, char close, int keyed)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 0;
	}
	for (;;) {
		if (keyed) {
			skip_ws(s);
			if (scan_string(s))
				return -1;
			skip_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return -1;
		}
		if (scan_value(s))
			return -1;
		skip_ws(s);
		if (s->p >= s->end)
			return -1;
		char c = *s->p++;
		if (c == close)
			return 0;
		if (c != ',')
			return -1;
	}
}

static int scan_value(struct scan *s)
{
	int rc;
	if (++s->depth > MAX_DEPTH)
		return -1;
	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
		rc = scan_members(s, '}', 1);
		break;
	case '[':
		rc = scan_members(s, ']', 0);
		break;
	case '"':
		rc = scan_string(s);
		break;
	case 't':
		rc = scan_word(s, "true");
		break;
	case 'f':
		rc = scan_word(s, "false");
		break;
	case 'n':
		rc = scan_word(s, "null");
		break;
	default:
		rc = scan_number(s);
	}
	s->depth--;
	return rc;
}

static int plain_json(const char *text, size_t len)
{
	struct scan s = {.p = text, .end = text + len};
	if (scan_value(&s))
		return -1;
	skip_ws(&s);
	return s.p == s.end ? 0 : -1;
}

/* ---- the fast start ---------------------------------------------------------------- */

struct flags {
	const char *namespace, *address, *publish_binary, *id, *bundle;
	int debug;
};

/* 0 when argv is exactly containerd's `-namespace N -address A -publish-binary P -id I
 * [-bundle B] [-debug] <action>` (any order, each flag once). */
static int parse(int argc, char **argv, const char *action, struct flags *f)
{
	if (argc < 2 || strcmp(argv[argc - 1], action))
		return -1;
	for (int i = 1; i < argc - 1; i++) {
		const char *arg = argv[i], *value = NULL;
		if (arg[0] != '-')
			return -1;
		arg += arg[1] == '-' ? 2 : 1;
		char name[32];
		const char *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n >= sizeof name)
			return -1;
		memcpy(name, arg, n);
		name[n] = 0;
		if (!strcmp(name, "debug")) {
			if (eq || f->debug)
				return -1; /* -debug=false and friends: Python's */
			f->debug = 1;
			continue;
		}
		const char **slot = !strcmp(name, "namespace")	    ? &f->namespace
				    : !strcmp(name, "address")	    ? &f->address
				    : !strcmp(name, "publish-binary") ? &f->publish_binary
				    : !strcmp(name, "id")		    ? &f->id
				    : !strcmp(name, "bundle")	    ? &f->bundle
								    : NULL;
		if (!slot || *slot)
			return -1;
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc - 1)
			value = argv[++i];
		else
			return -1;
		*slot = value;
	}
	if (!f->namespace || !*f->namespace || !f->address || !*f->address || !f->id ||
	    !*f->id || !f->publish_binary)
		return -1; /* Python's errors */
	return 0;
}

/* config.json (cwd) is plain JSON that can only name the container itself as its group. */
static int ungrouped_config(void)
{
	static const char *const keys[] = {"io.containerd.runc.v2.group",
					   "io.kubernetes.cri.sandbox-id",
					   "io.containerd.pyshim.v1.group", "\\u"};
	struct buf config = {0};
	int fd = open("config.json", O_RDONLY | O_CLOEXEC);
	int ok = fd >= 0 && read_all(fd, &config, MAX_CONFIG) == 0 && config.len &&
		 plain_json(config.data, config.len) == 0;
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; ok && i < sizeof keys / sizeof *keys; i++)
		ok = memmem(config.data, config.len, keys[i], strlen(keys[i])) == NULL;
	free(config.data);
	return ok ? 0 : -1;
}

static int zygote_connect(void)
{
	char fp[17];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = ZYGOTE_TIMEOUT_S};
	if (fingerprint(SHIM_PACKAGE, fp))
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/zygote-%s.sock", ZYGOTE_DIR, fp);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1; /* none (Python starts one), or busy warming up */
	}
	return fd;
}

/* A listening socket at path; -1 if the path is taken (Python tells a live group shim
 * from a dead one's leftover) or anything fails. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	strcpy(sa.sun_path, path);
	if (mkdir(SOCKET_DIR, 0711) && errno != EEXIST)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) || listen(fd, 128)) {
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

/* The daemon's pid from the zygote, forked onto `listener`; -1 on any failure. */
static long fork_daemon(int zygote, int listener, const struct flags *f)
{
	static const char *const passed[] = {"TTRPC_ADDRESS",	"GRPC_ADDRESS", "NAMESPACE",
					     "MAX_SHIM_VERSION", "SCHED_CORE",	 "PATH",
					     "SHIM_CRIU"};
	char cwd[4096], reply[4096];
	struct buf req = {0};
	long pid = -1;
	int bad = !getcwd(cwd, sizeof cwd);
	bad = bad || buf_str(&req, "{\"argv\":[\"-namespace\",") || buf_json(&req, f->namespace) ||
	      buf_str(&req, ",\"-id\",") || buf_json(&req, f->id) ||
	      buf_str(&req, ",\"-address\",") || buf_json(&req, f->address) ||
	      buf_str(&req, ",\"-publish-binary\",") || buf_json(&req, f->publish_binary) ||
	      (f->debug && buf_str(&req, ",\"-debug\"")) || buf_str(&req, "],\"cwd\":") ||
	      buf_json(&req, cwd) || buf_str(&req, ",\"env\":{");
	for (size_t i = 0, first = 1; !bad && i < sizeof passed / sizeof *passed; i++) {
		const char *value = getenv(passed[i]);
		if (!value)
			continue;
		bad = (!first && buf_str(&req, ",")) || buf_json(&req, passed[i]) ||
		      buf_str(&req, ":") || buf_json(&req, value);
		first = 0;
	}
	bad = bad || buf_str(&req, "}}") || req.len > MAX_REQUEST;
	if (!bad) {
		char control[CMSG_SPACE(sizeof(int))] = {0};
		struct iovec iov = {.iov_base = req.data, .iov_len = req.len};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control,
				     .msg_controllen = sizeof control};
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &listener, sizeof(int));
		ssize_t got = -1;
		if (sendmsg(zygote, &msg, MSG_NOSIGNAL) == (ssize_t)req.len)
			got = recv(zygote, reply, sizeof reply - 1, 0);
		if (got > 0) {
			reply[got] = 0;
			const char *at = strstr(reply, "\"pid\":");
			char *end;
			if (at) {
				pid = strtol(at + 6, &end, 10);
				if (end == at + 6 || pid <= 0)
					pid = -1;
			}
		}
	}
	free(req.data);
	return pid;
}

/* 1 when this start is done (the exit status is in *status), 0 to hand it to Python. */
static int fast_start(int argc, char **argv, const struct buf *input, int *status)
{
	struct flags f = {0};
	char path[128], address[160], root[4096], score_path[64];
	const char *no_zygote = getenv("SHIM_NO_ZYGOTE");
	if (parse(argc, argv, "start", &f) || f.bundle || (no_zygote && !strcmp(no_zygote, "1")) ||
	    input->len ||
	    ungrouped_config() || strchr(f.namespace, '/') ||
	    socket_path(f.address, f.namespace, f.id, path, sizeof path) ||
	    strlen(path) > SOCKET_PATH_LIMIT)
		return 0;
	int zygote = zygote_connect();
	if (zygote < 0)
		return 0;
	int listener = listen_at(path);
	if (listener < 0) {
		close(zygote);
		return 0;
	}
	snprintf(root, sizeof root, "%s/%s", RUNTIME_ROOT, f.namespace);
	long pid = -1;
	if (write_atomic("runtime-root", root) == 0)
		pid = fork_daemon(zygote, listener, &f);
	close(zygote);
	close(listener);
	if (pid <= 0) {
		unlink(path); /* as if never bound: Python binds it again */
		return 0;
	}
	/* start.adjust_oom_score: containerd's + 1 */
	char text[32] = {0};
	snprintf(score_path, sizeof score_path, "/proc/%d/oom_score_adj", (int)getppid());
	int fd = open(score_path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	if (fd >= 0)
		close(fd);
	long score = n > 0 ? strtol(text, NULL, 10) + 1 : 0;
	snprintf(score_path, sizeof score_path, "/proc/%ld/oom_score_adj", pid);
	snprintf(text, sizeof text, "%ld", score > 1000 ? 1000 : score);
	fd = n > 0 ? open(score_path, O_WRONLY | O_CLOEXEC) : -1;
	if (fd < 0 || write_all(fd, text, strlen(text))) {
		if (fd >= 0)
			close(fd);
		kill((pid_t)pid, SIGKILL);
		unlink(path);
		fprintf(stderr, "failed to adjust OOM score for shim: %s\n", strerror(errno));
		*status = 1;
		return 1;
	}
	close(fd);
	snprintf(address, sizeof address, "unix://%s", path);
	if (write_atomic("address", address)) {
		kill((pid_t)pid, SIGKILL);
		unlink(path);
		fprintf(stderr, "write address: %s\n", strerror(errno));
		*status = 1;
		return 1;
	}
	*status = write_all(1, address, strlen(address)) ? 1 : 0;
	return 1;
}

/* ---- the fast delete --------------------------------------------------------------- */

/* delete._read: the file's text without surrounding whitespace (str.strip's ASCII set),
 * "" when it cannot be read; -1 for text this front leaves to Python (non-ASCII, long). */
static int read_text(const char *dir, const char *name, char *out, size_t size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	out[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, out, size);
	close(fd);
	if (n < 0)
		return 0;
	if ((size_t)n >= size)
		return -1;
	out[n] = 0;
	const char *space = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)out[i] >= 0x80 || !out[i])
			return -1;
	size_t start = strspn(out, space), end = strlen(out);
	while (end > start && strchr(space, out[end - 1]))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = 0;
	return 0;
}

static size_t varint(unsigned char *out, uint64_t value)
{
	size_t n = 0;
	while (value > 0x7f) {
		out[n++] = (unsigned char)(value & 0x7f) | 0x80;
		value >>= 7;
	}
	out[n++] = (unsigned char)value;
	return n;
}

/* 1 when this `delete` is done (*status set), 0 to hand it to Python. Done here only when
 * there is nothing to clean: the state directory is gone (the daemon's Delete removed
 * it), the rootfs is not mounted, and the group's socket is absent or answered. Then it
 * prints what delete.py prints: DeleteResponse{pid of init.pid, 137, now}. */
static int fast_delete(int argc, char **argv, int *status)
{
	struct flags f = {0};
	char cwd[4096], root[4096], path[8192], text[4096];
	struct stat st, parent;
	if (parse(argc, argv, "delete", &f) || !getcwd(cwd, sizeof cwd))
		return 0;
	const char *bundle = f.bundle && *f.bundle ? f.bundle : cwd;
	if (read_text(bundle, "runtime-root", root, sizeof root))
		return 0;
	if (!*root)
		snprintf(root, sizeof root, "%s/%s", RUNTIME_ROOT, f.namespace);
	snprintf(path, sizeof path, "%s/%s", root, f.id);
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return 0; /* a container to delete */
	snprintf(path, sizeof path, "%s/rootfs", bundle);
	int missing = lstat(path, &st);
	if (!missing && !S_ISLNK(st.st_mode)) {
		snprintf(path, sizeof path, "%s/rootfs/..", bundle);
		if (lstat(path, &parent) || parent.st_dev != st.st_dev || parent.st_ino == st.st_ino)
			return 0; /* mounted (or unknown): Python unmounts */
	} else if (missing && errno != ENOENT) {
		return 0;
	}
	if (read_text(bundle, "address", text, sizeof text))
		return 0;
	if (!strncmp(text, "unix://", 7) && stat(text + 7, &st) == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int alive = 0, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && strlen(text + 7) < sizeof sa.sun_path) {
			strcpy(sa.sun_path, text + 7);
			alive = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		}
		if (fd >= 0)
			close(fd);
		if (!alive)
			return 0; /* a dead shim's socket: Python removes it */
	}
	if (read_text(bundle, "init.pid", text, sizeof text))
		return 0;
	uint64_t pid = 0;
	size_t digits = strspn(text, "0123456789");
	if (*text && !text[digits]) {
		if (digits > 18)
			return 0;
		pid = strtoull(text, NULL, 10);
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	unsigned char stamp[32], out[64];
	size_t n = 0, m = 0;
	if (now.tv_sec)
		stamp[n++] = 0x08, n += varint(stamp + n, (uint64_t)now.tv_sec);
	if (now.tv_nsec)
		stamp[n++] = 0x10, n += varint(stamp + n, (uint64_t)now.tv_nsec);
	if (pid)
		out[m++] = 0x08, m += varint(out + m, pid);
	out[m++] = 0x10, m += varint(out + m, 128 + 9); /* runc-v2's status, whatever it was */
	out[m++] = 0x1a, m += varint(out + m, n);
	memcpy(out + m, stamp, n);
	m += n;
	*status = write_all(1, (const char *)out, m) ? 1 : 0;
	return 1;
}

/* The Python shim, with the same argv and the stdin this front already read (a memfd:
 * Python reads fd 0 to its end, as it would have containerd's pipe). */
static void python(char **argv, const struct buf *input)
{
	if (input->len) {
		int fd = memfd_create("start-stdin", MFD_CLOEXEC);
		if (fd < 0 || write_all(fd, input->data, input->len) || lseek(fd, 0, SEEK_SET) ||
		    dup2(fd, 0) < 0) {
			fprintf(stderr, "containerd-shim-pyshim-v1: pass stdin on: %s\n",
				strerror(errno));
			_exit(1);
		}
		close(fd);
	}
	argv[0] = SHIM_SCRIPT;
	execv(SHIM_SCRIPT, argv);
	fprintf(stderr, "containerd-shim-pyshim-v1: exec %s: %s\n", SHIM_SCRIPT, strerror(errno));
	_exit(127);
}

int main(int argc, char **argv)
{
	struct buf input = {0};
	int status = 0;
#ifdef SHIM_FRONT_SELFTEST
	/* tests/shimv2/test_shim_front.py: what this front computes, beside Python's */
	char out[128];
	if (argc == 2 && !strcmp(argv[1], "-fingerprint"))
		return fingerprint(SHIM_PACKAGE, out) ? 1 : (puts(out), 0);
	if (argc == 5 && !strcmp(argv[1], "-socket-path"))
		return socket_path(argv[2], argv[3], argv[4], out, sizeof out) ? 1 : (puts(out), 0);
	if (argc == 2 && !strcmp(argv[1], "-plain-json")) { /* NUL-separated documents on stdin */
		if (read_all(0, &input, MAX_CONFIG))
			return 1;
		for (size_t at = 0; at < input.len;) {
			size_t n = strnlen(input.data + at, input.len - at);
			putchar(plain_json(input.data + at, n) ? '0' : '1');
			at += n + 1;
		}
		free(input.data);
		return 0;
	}
#endif
	if (argc >= 2 && !strcmp(argv[argc - 1], "start")) {
		/* containerd's stdin: nothing, or a runtime options Any (small) */
		errno = 0;
		if (read_all(0, &input, MAX_STDIN)) {
			fprintf(stderr, "read runtime options from stdin: %s\n",
				errno ? strerror(errno) : "more than 16 MiB");
			return 1;
		}
		if (fast_start(argc, argv, &input, &status)) {
			free(input.data);
			return status;
		}
	}
	if (argc >= 2 && !strcmp(argv[argc - 1], "delete") && fast_delete(argc, argv, &status))
		return status;
	python(argv, &input);
}
