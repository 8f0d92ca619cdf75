/* createContainer and startContainer hooks, run by the init inside the container's namespaces. */
#include "helper.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPTURE_MAX 4096

struct capture {
	char buf[CAPTURE_MAX];
	size_t len;
};

static void drain(int fd, struct capture *c, int *open)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0) {
		*open = 0;
		return;
	}
	if ((size_t)n > sizeof(c->buf) - 1 - c->len)
		n = (ssize_t)(sizeof(c->buf) - 1 - c->len);
	memcpy(c->buf + c->len, tmp, (size_t)n);
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child(const struct hook *k, int in, int out, int err)
{
	static const char *empty[] = { NULL };
	const char *argv0[] = { k->path, NULL };

	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(127);
	execve(k->path, (char *const *)(k->args.n ? k->args.v : argv0), (char *const *)(k->env.v ? k->env.v : empty));
	dprintf(2, "exec %s: %s", k->path, strerror(errno));
	_exit(127);
}

/* Run one hook; returns 0, or -1 with the reason in errbuf. */
static int run_one(const struct hook *k, const char *state, char *errbuf, size_t errlen)
{
	int in[2], out[2], err[2], status = 0, out_open = 1, err_open = 1, timed_out = 0;
	struct capture cout = { .len = 0 }, cerr = { .len = 0 };
	long long deadline = k->timeout ? now_ms() + (long long)k->timeout * 1000 : 0;
	pid_t pid;

	if (access(k->path, X_OK) < 0) {
		/* Go's wording, as runc reports it: "fork/exec PATH: no such file or directory". */
		int n = snprintf(errbuf, errlen, "fork/exec %s: %s", k->path, strerror(errno));
		size_t at = strlen(k->path) + strlen("fork/exec : ");

		if (n > 0 && at < errlen)
			errbuf[at] = (char)tolower((unsigned char)errbuf[at]);
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		snprintf(errbuf, errlen, "error running hook: pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(errbuf, errlen, "error running hook: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0)
		child(k, in[0], out[1], err[1]);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	/* The state is small: a pipe holds it, and a hook that ignores stdin must not kill us. */
	{
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);

		if (write(in[1], state, strlen(state)) < 0)
			status = 0;
		signal(SIGPIPE, old);
	}
	close(in[1]);
	while (out_open || err_open) {
		struct pollfd p[2] = { { out[0], out_open ? POLLIN : 0, 0 }, { err[0], err_open ? POLLIN : 0, 0 } };
		int wait = deadline ? (int)(deadline - now_ms()) : -1;

		if (deadline && wait <= 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(p, 2, wait) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			drain(out[0], &cout, &out_open);
		if (p[1].revents)
			drain(err[0], &cerr, &err_open);
	}
	close(out[0]);
	close(err[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out) {
		snprintf(errbuf, errlen, "hook ran past specified timeout of %u.0s", k->timeout);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status)) {
		char name[64];

		/* Go's names are lower case ("bad system call"), but "CPU time limit exceeded". */
		snprintf(name, sizeof(name), "%s", strsignal(WTERMSIG(status)));
		if (islower((unsigned char)name[1]))
			name[0] = (char)tolower((unsigned char)name[0]);
		snprintf(errbuf, errlen, "error running hook: signal: %s, stdout: %s, stderr: %s", name,
			 cout.buf, cerr.buf);
	} else {
		snprintf(errbuf, errlen, "error running hook: exit status %d, stdout: %s, stderr: %s",
			 WEXITSTATUS(status), cout.buf, cerr.buf);
	}
	return -1;
}

int run_hooks(struct helper *h, const struct hook *hooks, size_t n, const char *state, char *errbuf, size_t errlen)
{
	char reason[CAPTURE_MAX * 2 + 256];

	(void)h;
	for (size_t i = 0; i < n; i++) {
		if (run_one(&hooks[i], state ? state : "", reason, sizeof(reason)) < 0) {
			snprintf(errbuf, errlen, "error running hook #%zu: %s", i, reason);
			return -1;
		}
	}
	return 0;
}
