/* The process: keyring, no_new_privs, user and capabilities, cwd, the exec fifo, execve. */
#include "helper.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int apply_caps(struct helper *h)
{
	const struct boot *b = &h->boot;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	int last = h->last_cap;

	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(b->cap_effective >> (32 * i));
		data[i].permitted = (uint32_t)(b->cap_permitted >> (32 * i));
		data[i].inheritable = (uint32_t)(b->cap_inheritable >> (32 * i));
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return report(h, "set capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return report(h, "clear ambient capabilities");
	for (int cap = 0; cap <= last && cap < 64; cap++) {
		/* Like runc: an ambient cap needs it permitted and inheritable; otherwise it cannot be raised. */
		if ((b->cap_ambient >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 &&
		    errno != EPERM)
			return report(h, "raise ambient capability %d", cap);
	}
	return 0;
}

/* Bounding set first (it needs CAP_SETPCAP), keep caps across the uid change, then the rest. */
static int switch_user(struct helper *h)
{
	const struct boot *b = &h->boot;
	int last = h->last_cap;

	for (int cap = 0; cap <= last && cap < 64; cap++)
		if (!(b->cap_bounding >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return report(h, "drop capability %d from the bounding set", cap);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return report(h, "keep capabilities");
	if (h->setgroups_allowed && setgroups(b->n_groups, (gid_t *)b->groups) < 0)
		return report(h, "setgroups");
	if (setresgid(b->gid, b->gid, b->gid) < 0)
		return report(h, "setgid %u", b->gid);
	if (setresuid(b->uid, b->uid, b->uid) < 0)
		return report(h, "setuid %u", b->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return report(h, "clear keepcaps");
	return apply_caps(h);
}

/* Go's error texts are lower case ("no such file or directory"); runc's messages carry them. */
static const char *go_strerror(int err)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(err));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/*
 * CVE-2024-21626: a cwd outside the root shows as "(unreachable)..." or fails. Returns
 * 1 when chdir was refused (EACCES/EPERM) and should be retried after the user switch.
 */
static int enter_cwd(struct helper *h, const char *cwd, int last_try)
{
	char buf[PATH_MAX];

	if (chdir(cwd) < 0) {
		if (!last_try && (errno == EACCES || errno == EPERM))
			return 1;
		return report_errno(h, 0, "chdir to cwd (\"%s\") set in config.json failed: %s", cwd, go_strerror(errno));
	}
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		return report_errno(h, EPERM, "current working directory is outside of container mount namespace root");
	return 0;
}

static const char *getenv_in(const struct strv *env, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], name, len) && env->v[i][len] == '=')
			return env->v[i] + len + 1;
	return NULL;
}

static int executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* Resolve args[0] now, so a missing binary fails `create`, not `start`. */
static int lookup(struct helper *h, char *out, size_t len)
{
	const char *arg0 = h->boot.args.v[0], *path;
	struct stat st;

	if (strchr(arg0, '/')) {
		if (stat(arg0, &st) < 0)
			return report_errno(h, 0, "exec: \"%s\": stat %s: %s", arg0, arg0, go_strerror(errno));
		if (!executable(arg0))
			return report_errno(h, 0, "exec: \"%s\": permission denied", arg0);
		snprintf(out, len, "%s", arg0);
		return 0;
	}
	path = getenv_in(&h->boot.env, "PATH");
	for (path = path ? path : DEFAULT_PATH; *path;) {
		size_t n = strcspn(path, ":");

		snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", arg0);
		if (executable(out))
			return 0;
		path += n + (path[n] == ':');
	}
	return report_errno(h, 0, "exec: \"%s\": executable file not found in $PATH", arg0);
}

/* runc's rule: HOME from the container's /etc/passwd when the env lacks it, else "/". */
static int add_home(struct helper *h)
{
	struct boot *b = &h->boot;
	static char home[PATH_MAX + 8];
	char line[1024];
	const char **env;
	FILE *f;

	if (getenv_in(&b->env, "HOME"))
		return 0;
	strcpy(home, "HOME=/");
	f = fopen("/etc/passwd", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *fields[7], *tok = line;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		while (n < 7 && (fields[n] = strsep(&tok, ":")))
			n++;
		if (n >= 6 && strtoul(fields[2], NULL, 10) == b->uid && fields[2][0]) {
			snprintf(home, sizeof(home), "HOME=%s", fields[5]);
			break;
		}
	}
	if (f)
		fclose(f);
	env = calloc(b->env.n + 2, sizeof(char *));
	if (!env)
		return report(h, "allocate the environment");
	memcpy(env, b->env.v, b->env.n * sizeof(char *));
	env[b->env.n++] = home;
	b->env.v = env;
	return 0;
}

int setup_process(struct helper *h)
{
	const struct boot *b = &h->boot;
	const char *cwd = b->cwd ? b->cwd : "/";
	int cwd_later;

	if (add_home(h) < 0)
		return -1;

	if (b->keyring && set_key_label(h) < 0)  /* keys of the new session keyring get the label */
		return -1;
	if (b->keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, b->keyring) < 0 && errno != ENOSYS)
		return report(h, "join session keyring %s", b->keyring);
	if (set_exec_labels(h) < 0)
		return -1;
	if (b->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return report(h, "set no_new_privs");
	/* cwd first, as root: a profile may well refuse getcwd to the process itself. */
	cwd_later = enter_cwd(h, cwd, 0);
	if (cwd_later < 0)
		return -1;
	/* After the cwd is entered (a directory fd is one more way out), before caps go. */
	if (b->has_fifo && open_fifo_proc(h) < 0)
		return -1;
	if (!b->no_new_privs && load_seccomp(h) < 0)
		return -1;
	if (switch_user(h) < 0)
		return -1;
	return cwd_later ? enter_cwd(h, cwd, 1) : 0;
}

/* close_range(CLOSE_RANGE_CLOEXEC), or fd by fd where a seccomp profile refuses it. */
static int cloexec_from(int first)
{
	long max = sysconf(_SC_OPEN_MAX);

	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	for (long fd = first; fd < (max > 0 ? max : 1024); fd++)
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
			return -1;
	return 0;
}

/*
 * Reopen the exec fifo (held O_PATH) for writing through our pid-only procfs: blocks until
 * `start` opens it for reading. Anything but a fifo there is refused.
 */
static int open_fifo(struct helper *h, int *out)
{
	char name[32];
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "self/fd/%d", h->fifo_fd);
	while ((fd = openat(h->fifo_proc, name, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
		;
	close(h->fifo_proc);
	h->fifo_proc = -1;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

static int write_all(int fd, const char *s)
{
	size_t len = strlen(s);

	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/*
 * create: wait for `start` on the fifo, run startContainer hooks, execve; failures after
 * the fifo opened go to `start` through it. exec: CTL2 stays open (close-on-exec) until
 * execve, so the parent reads EOF for success and an ERROR otherwise.
 */
int exec_process(struct helper *h)
{
	const struct boot *b = &h->boot;
	char path[PATH_MAX], errbuf[8192];
	int wfd = -1;

	if (lookup(h, path, sizeof(path)) < 0)
		return -1;
	if (b->no_new_privs && load_seccomp(h) < 0)
		return -1;
	log_msg(h, LOG_DEBUG, b->exec ? "setns_init: about to exec" : "init: closing the pipe to signal completion");
	test_point(h, "h2-pending");
	if (send_simple(h, MSG_EXEC_PENDING) < 0)
		return -1;
	close(h->log_fd);
	h->log_fd = -1;
	if (!b->exec) {
		close(h->ctl);
		h->ctl = -1;
	}
	if (b->has_fifo) {
		test_point(h, "h2-fifo");
		if (open_fifo(h, &wfd) < 0 || write_all(wfd, "0") < 0)
			return -1;
		close(h->fifo_fd);
	}
	if (run_hooks(h, b->start_hooks, b->n_start_hooks, b->state_created, errbuf, sizeof(errbuf)) < 0) {
		if (wfd < 0 || write_all(wfd, errbuf) < 0)
			dprintf(2, "%s\n", errbuf);
		return -1;
	}
	/* Everything past stdio and the preserved fds closes at exec (CVE-2024-21626). */
	if (cloexec_from(3 + h->npreserved) < 0)
		return report(h, "mark fds close-on-exec");
	signal(SIGPIPE, SIG_DFL); /* ignored signals would survive execve */
	execve(path, (char *const *)b->args.v, (char *const *)b->env.v);
	if (h->ctl >= 0)
		return report(h, "exec %s", path);
	snprintf(errbuf, sizeof(errbuf), "exec %s: %s", path, strerror(errno));
	if (wfd < 0 || write_all(wfd, errbuf) < 0)
		dprintf(2, "%s\n", errbuf);
	return -1;
}
