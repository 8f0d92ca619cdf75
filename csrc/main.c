/*
 * shim-init: the init helper. Run only by the Python parent, only from a
 * sealed memfd, with the fd layout of protocol.h; argv[1] is the number of
 * preserved fds. See protocol.h for the exchange.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* CVE-2019-5736: the container must never be able to write the file we run from. */
static int check_sealed(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int seals = fd < 0 ? -1 : fcntl(fd, F_GET_SEALS);

	if (fd >= 0)
		close(fd);
	return seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS ? 0 : -1;
}

static int setup_fds(struct helper *h, int npreserved)
{
	int base = 3 + npreserved;

	h->npreserved = npreserved;
	h->ctl = base + FD_CTL1;
	h->log_fd = base + FD_LOG;
	h->console_sock = base + FD_CONSOLE;
	h->fifo_fd = base + FD_FIFO;
	/* Nothing but our slots may come in; and none of them may reach a hook or the process. */
	if (syscall(SYS_close_range, base + PROTO_FIXED_FDS, ~0U, 0) < 0)
		return -1;
	for (int fd = base; fd < base + PROTO_FIXED_FDS; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return -1;
	return 0;
}

static int hello(struct helper *h)
{
	uint8_t buf[64];
	uint32_t version = PROTO_VERSION;
	size_t off = tlv_put(buf, sizeof(buf), 0, T_VERSION, &version, 4);
	int r;

	if (send_packet(h->ctl, MSG_HELLO, buf, off, NULL, 0) < 0)
		return report(h, "send HELLO");
	r = recv_packet(h->ctl, &h->bootpkt);
	if (r <= 0)
		return r == 0 ? -1 : report(h, "receive BOOT");
	if (h->bootpkt.type != MSG_BOOT)
		return report_errno(h, EPROTO, "expected BOOT, got message %u", h->bootpkt.type);
	return parse_boot(h);
}

static int send_child(struct helper *h, pid_t pid)
{
	uint8_t buf[64];
	uint32_t p = (uint32_t)pid;
	size_t off = tlv_put(buf, sizeof(buf), 0, T_PID, &p, 4);

	if (send_packet(h->ctl, MSG_CHILD, buf, off, NULL, 0) < 0)
		return report(h, "send the child pid");
	return expect(h, MSG_CHILD_ACK);
}

/* H2 of create: pid 1 of the container; builds the rootfs first. */
static int build_container(struct helper *h)
{
	const struct boot *b = &h->boot;
	char errbuf[8192];

	if (open_private_proc(h) < 0)
		return -1;
	if (b->loopback_up && loopback_up(h) < 0)
		return -1;
	if (prepare_rootfs(h) < 0)
		return -1;
	test_point(h, "h2-rootfs");
	if (b->want_hooks && (send_simple(h, MSG_HOOKS) < 0 || expect(h, MSG_HOOKS_DONE) < 0))
		return -1;
	if (b->n_create_hooks) {
		if (chdir(b->rootfs) < 0)
			return report(h, "chdir %s", b->rootfs);
		if (run_hooks(h, b->create_hooks, b->n_create_hooks, b->state_creating, errbuf, sizeof(errbuf)) < 0)
			return report_errno(h, 0, "error during container init: %s", errbuf);
	}
	if (switch_root(h) < 0)
		return -1;
	if (b->terminal && setup_console(h) < 0)
		return -1;
	if (finish_rootfs(h) < 0)
		return -1;
	close(h->procfd);
	h->procfd = -1;
	return 0;
}

/* H2: the container's init (create) or the exec'd process (exec). Returns only on failure. */
static int stage2(struct helper *h)
{
	const struct boot *b = &h->boot;

	h->stage = STAGE_H2;
	close(h->ctl);
	h->ctl = 3 + h->npreserved + FD_CTL2;
	test_point(h, "h2-start");
	log_msg(h, LOG_DEBUG, b->exec ? "setns_init: joined the container" : "child process in init()");
	if (setsid() < 0)
		return report(h, "setsid");
	umask(0);
	if (b->exec ? (b->terminal && setup_console(h) < 0) : build_container(h) < 0)
		return -1;
	if (h->console_sock >= 0)
		close(h->console_sock);
	h->console_sock = -1;
	umask((mode_t)b->umask);
	test_point(h, "h2-ready");
	if (send_simple(h, MSG_READY) < 0 || expect(h, MSG_RUN) < 0)
		return -1;
	if (setup_process(h) < 0)
		return -1;
	return exec_process(h);
}

/* H1: namespaces, then clone H2 into them. */
static int stage1(struct helper *h)
{
	pid_t pid;

	test_point(h, "h1-hello");
	if (hello(h) < 0 || read_host_facts(h) < 0 || open_lsm_root(h) < 0)
		return -1;
	test_point(h, "h1-boot");
	log_msg(h, LOG_DEBUG, "nsexec container setup");
	/* Nobody in the container may ptrace us or open our /proc files (CVE-2016-9962). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return report(h, "set non-dumpable");
	if (write_oom_score_adj(h) < 0 || enter_root(h) < 0 || join_namespaces(h) < 0 ||
	    unshare_namespaces(h) < 0)
		return -1;
	if (read_setgroups(h) < 0)  /* also drops H1's host /proc fd: H2 never gets it */
		return -1;
	/* CLONE_PARENT: H2 is the parent's child, so it can wait on a pidfd of it. */
	pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (pid < 0)
		return report(h, "clone the container init");
	if (pid == 0)
		_exit(stage2(h) < 0 ? 1 : 0);
	close(3 + h->npreserved + FD_CTL2);
	test_point(h, "h1-child");
	return send_child(h, pid);
}

/* Whatever the parent ignored or blocked must not reach the container (ignored signals survive execve). */
static void reset_signals(void)
{
	/* The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask. */
	unsigned long kernel_sigaction[4] = { 0, 0, 0, 0 };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/*
	 * glibc's signal() refuses its two internal ones (32, 33), and glibc's posix_spawn
	 * (the parent's) leaves them ignored in the child: reset them with the raw call.
	 */
	for (int sig = 32; sig < SIGRTMIN; sig++)
		syscall(SYS_rt_sigaction, sig, kernel_sigaction, NULL, 8);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

int main(int argc, char **argv)
{
	struct helper h;
	char *end;
	long n;

	reset_signals();
	/*
	 * The parent may be killed at any moment: a log record written to its pipe then
	 * fails with EPIPE instead of killing us, and we exit 1 at the next message. Back
	 * to the default right before any execve (process.c, hooks.c).
	 */
	signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	h.stage = STAGE_H1;
	h.ctl = -1;
	h.log_fd = -1;
	h.procfd = -1;
	h.fifo_proc = -1;
	h.lsm_fd = -1;
	if (argc != 2 || (n = strtol(argv[1], &end, 10), *end || n < 0 || n > 1000)) {
		dprintf(2, "shim-init: internal helper of shim; not to be run by hand\n");
		return 2;
	}
	if (setup_fds(&h, (int)n) < 0) {
		dprintf(2, "shim-init: set up fds: %s\n", strerror(errno));
		return 1;
	}
	if (check_sealed() < 0) {
		report_errno(&h, EPERM, "refusing to run: /proc/self/exe is not a sealed memfd (CVE-2019-5736)");
		return 1;
	}
	return stage1(&h) < 0 ? 1 : 0;
}
