/*
 * The wire protocol between the Python parent (P) and the init helper.
 *
 * Declarations only and no #include: cffi parses this file verbatim
 * (shim/sys/_build.py), and shim/init/protocol.py mirrors it; a test
 * checks the two agree.
 *
 * Processes: H1 joins/unshares namespaces and clones H2 (CLONE_PARENT, so
 * H2 is P's child); H2 is pid 1 of the container and execs the user process.
 *
 * fd layout in the helper (argv[1] = N preserved fds):
 *   0-2 stdio, 3..3+N-1 preserved, then CTL1, CTL2, LOG, CONSOLE, FIFO
 *   (CONSOLE and FIFO may be closed slots: the parent dup2s /dev/null there
 *   only when absent; the BOOT message says which are real).
 *
 * Packet = one SOCK_SEQPACKET message, host byte order:
 *   header: u32 len | u16 type | u16 flags | u32 seq | u32 nfds
 *   body:   TLVs, each u16 tag | u16 tflags | u32 vlen | value | pad to 8
 * A TLV whose tag is unknown is an error unless tflags has TLV_OPTIONAL.
 * Records (a mount, a device, a hook) are a TLV whose value is a TLV block.
 *
 * Exchange for create:
 *   H1 -> P   HELLO (version)                 after the sealed-exe check
 *   P  -> H1  BOOT  (+ namespace fds)         after P placed H1 in the cgroups
 *   H1 -> P   CHILD (H2 pid)                   -> P: CHILD_ACK, H1 exits 0
 *   H2 -> P   MOUNT_REQ (index; a mount whose record has M_PARENT_SOURCE, in order)
 *             -> P: MOUNT_FD (+ a detached copy of the source's mount tree, made by P in
 *                its own mount namespace: the container's user may not reach the source)
 *   H2 -> P   HOOKS (only if BOOT asked)      -> P: prestart, createRuntime,
 *                                                HOOKS_DONE
 *   H2 -> P   READY                           -> P: prlimit, RUN
 *   H2 -> P   SECCOMP_FD (+ listener fd; only with a notify filter) -> P: hands it to
 *                                                listenerPath, SECCOMP_ACK
 *   H2 -> P   EXEC_PENDING, then closes CTL2 and blocks on the exec fifo
 *   any -> P  ERROR (errno, stage, message); the sender then exits 1
 *
 * Exchange for exec (T_EXEC): H1 joins the init's namespaces with
 * setns(pidfd, flags) (T_JOIN_PIDFD); no HOOKS, no fifo; after EXEC_PENDING
 * H2 keeps CTL2 (close-on-exec) until execve, so EOF means the exec happened
 * and an ERROR means it did not.
 */

enum {
	PROTO_VERSION = 1,
	PROTO_MAX_PACKET = 262144,
	PROTO_HEADER_SIZE = 16,
	PROTO_TLV_HEADER_SIZE = 8,
	PROTO_FIXED_FDS = 5,
	TLV_OPTIONAL = 1
};

struct proto_header {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t nfds;
};

struct proto_tlv {
	uint16_t tag;
	uint16_t tflags;
	uint32_t vlen;
};

/* Slot offsets after the preserved fds. */
enum {
	FD_CTL1 = 0,
	FD_CTL2 = 1,
	FD_LOG = 2,
	FD_CONSOLE = 3,
	FD_FIFO = 4
};

/* Packet types. Numbers are never reused. */
enum {
	MSG_HELLO = 1,
	MSG_BOOT = 2,
	MSG_USERNS_READY = 3,
	MSG_USERNS_MAPPED = 4,
	MSG_CHILD = 5,
	MSG_CHILD_ACK = 6,
	MSG_HOOKS = 7,
	MSG_HOOKS_DONE = 8,
	MSG_READY = 9,
	MSG_RUN = 10,
	MSG_SECCOMP_FD = 11,
	MSG_SECCOMP_ACK = 12,
	MSG_EXEC_PENDING = 13,
	MSG_ERROR = 14,
	MSG_MOUNT_REQ = 15,
	MSG_MOUNT_FD = 16
};

/* Stages, for ERROR and log records. */
enum {
	STAGE_H1 = 1,
	STAGE_H2 = 2
};

/* TLV tags. Numbers are never reused. */
enum {
	/* HELLO, CHILD, ERROR */
	T_VERSION = 1,
	T_PID = 2,
	T_ERRNO = 3,
	T_STAGE = 4,
	T_MESSAGE = 5,
	T_INDEX = 6,            /* MOUNT_REQ: u32, the M_PARENT_SOURCE of the mount */

	/* BOOT: namespaces (H1) */
	T_CLONE_FLAGS = 10,     /* u32: CLONE_NEW* to unshare */
	T_NS_JOIN = 11,         /* u32 nstype, u32 index into the packet's fds; repeated, in join order */
	T_OOM_SCORE_ADJ = 12,   /* bytes: decimal text */
	T_TIMENS_OFFSETS = 13,  /* bytes: lines "<clock> <secs> <nsecs>\n" */
	T_JOIN_PIDFD = 14,      /* u32 CLONE_NEW* flags, u32 fd index: setns(pidfd of the init, flags) */

	/* BOOT: rootfs (H2, before the root switch) */
	T_ROOTFS = 20,          /* bytes: absolute host path */
	T_ROOT_PROPAGATION = 21,/* u32: mount flags for "/" (0: MS_SLAVE|MS_REC) */
	T_ROOT_READONLY = 22,   /* u32 bool */
	T_NO_PIVOT = 23,        /* u32 bool */
	T_MOUNT = 24,           /* record: M_* */
	T_DEVICE = 25,          /* record: D_* */
	T_SYMLINK = 26,         /* record: L_* */
	T_CWD = 27,             /* bytes: absolute container path, made if missing */
	T_WANT_HOOKS = 28,      /* u32 bool: send HOOKS and wait for HOOKS_DONE */
	T_HOOK_CREATE_CONTAINER = 29, /* record: K_* */
	T_HOOK_START_CONTAINER = 30,  /* record: K_* */
	T_STATE_CREATING = 31,  /* bytes: OCI state JSON for createContainer hooks */
	T_STATE_CREATED = 32,   /* bytes: OCI state JSON for startContainer hooks */
	T_LOOPBACK_UP = 33,     /* u32 bool: bring "lo" up in the new netns */
	T_DEV_SETUP = 34,       /* u32 bool: /dev is not a bind: make nodes and links */
	T_EXEC = 35,            /* u32 bool: exec into a running container: no rootfs, no hooks, no fifo */
	T_NO_MOUNT_NS = 36,     /* u32 bool: the container shares our mount namespace: chroot only */
	T_ROOT_FD = 37,         /* u32 fd index: exec: chroot into this (the init's root) first */

	/* BOOT: after the root switch (H2) */
	T_HOSTNAME = 40,
	T_DOMAINNAME = 41,
	T_SYSCTL = 42,          /* record: S_KEY (path under /proc/sys), S_VALUE */
	T_MASKED = 43,          /* bytes, repeated */
	T_READONLY_PATH = 44,   /* bytes, repeated */
	T_KEYRING = 45,         /* bytes: session keyring name; absent: keep */
	T_TERMINAL = 46,        /* u32 bool */
	T_CONSOLE_SIZE = 47,    /* u32 rows, u32 cols */

	/* BOOT: the process (H2) */
	T_NO_NEW_PRIVS = 50,    /* u32 bool */
	T_UID = 51,
	T_GID = 52,
	T_ADDITIONAL_GID = 53,  /* u32, repeated */
	T_UMASK = 54,
	T_CAP_BOUNDING = 55,    /* u64 bit masks, always all five */
	T_CAP_EFFECTIVE = 56,
	T_CAP_PERMITTED = 57,
	T_CAP_INHERITABLE = 58,
	T_CAP_AMBIENT = 59,
	T_ARG = 60,             /* bytes, repeated, at least one */
	T_ENV = 61,             /* bytes, repeated */
	T_HAS_FIFO = 62,        /* u32 bool: wait on the exec fifo before execve */
	T_HAS_CONSOLE = 63,     /* u32 bool: the CONSOLE slot holds the console socket */
	T_SECCOMP_BPF = 64,     /* raw struct sock_filter[] (8 bytes each), compiled by the parent */
	T_SECCOMP_FLAGS = 65,   /* u32 SECCOMP_FILTER_FLAG_*; NEW_LISTENER: H2 sends SECCOMP_FD */
	T_APPARMOR_PROFILE = 66,/* bytes: written as "exec <profile>" to attr/apparmor/exec */
	T_SELINUX_LABEL = 67,   /* bytes: written to attr/exec and attr/keycreate */
	T_LSM_ATTR_ROOT = 68,   /* bytes: tests only: a directory standing in for /proc */

	/* Record fields: mount */
	M_SOURCE = 100,
	M_DEST = 101,           /* absolute container path */
	M_FSTYPE = 102,
	M_FLAGS = 103,          /* u64 flags for mount(2) */
	M_DATA = 104,
	M_PROPAGATION = 105,    /* u64 propagation flags, applied in a second call */
	M_FILE = 106,           /* u32 bool: target is a file (else a directory) */
	M_REMOUNT = 107,        /* u64: flags for a MS_REMOUNT|MS_BIND after a bind (0: none) */
	M_PLAIN_DIR = 108,      /* u32 bool: target must be a real directory (proc, sysfs) */
	M_ATTR_SET = 109,       /* u64 mount_setattr attr_set, recursive */
	M_ATTR_CLR = 110,
	M_PROC_OK = 111,        /* u32 bool: the target may be on procfs (proc itself, lxcfs files) */
	M_RO_LATER = 112,       /* u32 bool: mounted writable, made read-only after the root switch */
	M_PARENT_SOURCE = 113,  /* u32: a bind whose source the parent opens (MOUNT_REQ with this index) */
	M_COPYUP = 114,         /* u32 bool: tmpfs: copy the content of the directory it covers into it */

	/* Record fields: device node */
	D_PATH = 120,           /* absolute container path */
	D_TYPE = 121,           /* u32: S_IFCHR, S_IFBLK or S_IFIFO */
	D_MAJOR = 122,
	D_MINOR = 123,
	D_MODE = 124,           /* u32 permission bits */
	D_UID = 125,
	D_GID = 126,

	/* Record fields: symlink */
	L_TARGET = 130,
	L_PATH = 131,           /* absolute container path of the link */

	/* Record fields: hook */
	K_PATH = 140,
	K_ARG = 141,            /* repeated */
	K_ENV = 142,            /* repeated */
	K_TIMEOUT = 143,        /* u32 seconds, 0: none */

	/* Record fields: sysctl */
	S_KEY = 150,
	S_VALUE = 151
};

/* Log records on the LOG pipe: u16 level | u16 stage | u32 len | text. */
struct proto_log {
	uint16_t level;
	uint16_t stage;
	uint32_t len;
};

enum {
	LOG_ERROR = 2,
	LOG_WARN = 3,
	LOG_INFO = 4,
	LOG_DEBUG = 5
};
