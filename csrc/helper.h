/* Internal declarations of the init helper. protocol.h is the wire contract. */
#ifndef SHIM_HELPER_H
#define SHIM_HELPER_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"

#define MAX_FDS 64

/* One received packet: the buffer and the fds that came with it. */
struct packet {
	uint8_t *buf;
	size_t len;
	uint16_t type;
	int fds[MAX_FDS];
	unsigned nfds;
};

/* A cursor over a TLV block. */
struct tlv_iter {
	const uint8_t *pos, *end;
};

struct tlv {
	uint16_t tag;
	uint16_t tflags;
	uint32_t vlen;
	const uint8_t *value;
};

struct strv {
	const char **v; /* NULL-terminated */
	size_t n;
};

struct mount_op {
	const char *source, *dest, *fstype, *data;
	uint64_t flags, propagation, remount, attr_set, attr_clr;
	int file, plain_dir, proc_ok, ro_later;
	int parent_source; /* -1, or the MOUNT_REQ index: the parent opens the source */
	int copyup;        /* tmpfs: copy what it covers into it (tmpcopyup) */
};

struct device_op {
	const char *path;
	uint32_t type, major, minor, mode, uid, gid;
};

struct symlink_op {
	const char *target, *path;
};

struct hook {
	const char *path;
	struct strv args, env;
	uint32_t timeout;
};

struct sysctl_op {
	const char *key, *value;
};

/* A rootfs step: one of the three, in BOOT order. */
struct rootfs_step {
	int kind; /* T_MOUNT, T_DEVICE or T_SYMLINK */
	struct mount_op mount;
	struct device_op device;
	struct symlink_op link;
};

struct boot {
	uint32_t clone_flags;
	uint32_t ns_types[16];
	int ns_fds[16];
	unsigned n_ns;
	const char *oom_score_adj, *timens_offsets;
	int join_pidfd;
	uint32_t join_flags;
	int exec;

	const char *rootfs, *cwd;
	uint32_t root_propagation;
	int root_readonly, no_pivot, want_hooks, loopback_up, dev_setup, no_mount_ns;
	int root_fd;  /* exec into a container without a mount namespace: its root, or -1 */
	struct rootfs_step *steps;
	size_t n_steps;
	struct hook *create_hooks, *start_hooks;
	size_t n_create_hooks, n_start_hooks;
	const char *state_creating, *state_created;

	const char *hostname, *domainname, *keyring;
	struct sysctl_op *sysctls;
	size_t n_sysctls;
	struct strv masked, readonly_paths;
	int terminal;
	uint32_t console_rows, console_cols;

	int no_new_privs, has_fifo, has_console;
	uint32_t uid, gid, umask;
	uint32_t *groups;
	size_t n_groups;
	uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
	struct strv args, env;
	const uint8_t *seccomp;
	uint32_t seccomp_len, seccomp_flags;
	const char *apparmor_profile, *selinux_label, *lsm_attr_root;
};

struct helper {
	int stage;
	int npreserved;
	int ctl;      /* the control socket of this stage */
	int log_fd;   /* -1 once closed */
	int console_sock, fifo_fd;
	/*
	 * Facts read by H1 from the host's procfs before any namespace or mount could be
	 * arranged by the container, inherited by H2 (CVE-2025-52881: never read them from
	 * the container's /proc, which an image or hook can overmount).
	 */
	int last_cap;
	int setgroups_allowed;
	int procfd;   /* H2 (create): a private procfs instance for sysctl writes, or -1 */
	int fifo_proc; /* H2 (create): a pid-only procfs instance to reopen the exec fifo, or -1 */
	int lsm_fd;   /* procfs (or its test stand-in) for the LSM attr files, or -1 */
	int *ro_later;  /* H2 (create): O_PATH fds of the mounts to make read-only after the root switch */
	size_t n_ro_later;
	struct packet bootpkt;
	struct boot boot;
};

/* wire.c */
int send_packet(int fd, uint16_t type, const uint8_t *body, size_t len, const int *fds, unsigned nfds);
int recv_packet(int fd, struct packet *p);
void free_packet(struct packet *p);
void tlv_iter_init(struct tlv_iter *it, const uint8_t *buf, size_t len);
int tlv_next(struct tlv_iter *it, struct tlv *t); /* 1: got one, 0: end, -1: malformed */
int tlv_u32(const struct tlv *t, uint32_t *out);
int tlv_u64(const struct tlv *t, uint64_t *out);
int tlv_str(const struct tlv *t, const char **out);
size_t tlv_put(uint8_t *buf, size_t cap, size_t off, uint16_t tag, const void *v, uint32_t vlen);

/* report.c: all return -1 so callers can `return report(...)`. */
int report(struct helper *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int report_errno(struct helper *h, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void log_msg(struct helper *h, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int send_simple(struct helper *h, uint16_t type);
int expect(struct helper *h, uint16_t type);

/* boot.c */
int parse_boot(struct helper *h);

/* procfs.c */
int read_host_facts(struct helper *h);
int read_setgroups(struct helper *h);
int open_private_proc(struct helper *h);
int open_fifo_proc(struct helper *h);
int open_in_proc(struct helper *h, const char *path, int flags);
int on_procfs(int fd);

/* namespaces.c */
int join_namespaces(struct helper *h);
int write_oom_score_adj(struct helper *h);
int unshare_namespaces(struct helper *h);
int loopback_up(struct helper *h);

/* resolve.c */
enum {
	IN_ROOT_CREATE = 1,
	IN_ROOT_FILE = 2,
	IN_ROOT_PLAIN_DIR = 4,
	IN_ROOT_MAYBE_MISSING = 8,
	IN_ROOT_NOFOLLOW_LAST = 16,  /* the last component may not be a symlink */
	IN_ROOT_NOT_ON_PROC = 32     /* the target may not be on procfs (CVE-2019-16884) */
};
int open_in_root(struct helper *h, int rootfd, const char *path, unsigned flags);

/* rootfs.c, mounts.c, devices.c */
int prepare_rootfs(struct helper *h);
int do_mount(struct helper *h, int rootfd, const struct mount_op *m);
int make_ro_later(struct helper *h);
int copy_up(struct helper *h, int src, int dst, const char *where);  /* copyup.c */
int make_device(struct helper *h, int rootfd, const struct device_op *d);
int make_symlink(struct helper *h, int rootfd, const struct symlink_op *l);
int switch_root(struct helper *h);
int move_root(struct helper *h);    /* move_root.c: --no-pivot */
int chroot_root(struct helper *h);  /* move_root.c: no mount namespace */
int enter_root(struct helper *h);   /* move_root.c: exec into such a container */
int finish_rootfs(struct helper *h);

/* hooks.c */
int run_hooks(struct helper *h, const struct hook *hooks, size_t n, const char *state, char *errbuf, size_t errlen);

/* console.c */
int setup_console(struct helper *h);

/* lsm.c */
int open_lsm_root(struct helper *h);
int set_key_label(struct helper *h);
int set_exec_labels(struct helper *h);

/* seccomp.c */
int load_seccomp(struct helper *h);

/* process.c */
int setup_process(struct helper *h);
int exec_process(struct helper *h);

/*
 * testhooks.c: fault points for the tests, compiled in only with -DSHIM_TEST_HOOKS (the
 * packaged helper has none). See testhooks.c for what SHIM_INIT_TEST may ask.
 */
#ifdef SHIM_TEST_HOOKS
void test_point(struct helper *h, const char *name);
#else
static inline void test_point(struct helper *h, const char *name)
{
	(void)h;
	(void)name;
}
#endif

#endif
