/*
 * Resolve a container path inside the rootfs, by fd, one component at a time.
 *
 * Why not a string: mount(2) and mkdir(2) follow symlinks, and a hostile image
 * (or a racing container process) can swap a component for a symlink to the
 * host between a check and the use (CVE-2021-30465, CVE-2024-45310). Every
 * step here is openat(O_NOFOLLOW) relative to a directory fd already inside
 * the root; symlinks are read and followed by hand with the rootfs as "/";
 * a ".." that would climb above the rootfs is an error. The caller mounts on
 * /proc/self/fd/N of the returned O_PATH fd.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 256
#define MAX_LINKS 40

struct walk {
	int fds[MAX_DEPTH + 1];
	int depth;
};

static void unwind(struct walk *w, int to)
{
	while (w->depth > to)
		close(w->fds[w->depth--]);
}

/* Create the missing component `name` in dirfd, then open it O_PATH. */
static int create_component(int dirfd, const char *name, int as_file)
{
	if (as_file) {
		int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST)
			return -1;
	} else if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST) {
		return -1;
	}
	return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/* Replace `rest` by `target` + "/" + `rest` (rest may be empty). */
static int splice_link(char *rest, size_t cap, const char *target)
{
	size_t tl = strlen(target), rl = strlen(rest);

	if (tl + 1 + rl + 1 > cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(rest + tl + 1, rest, rl + 1);
	memcpy(rest, target, tl);
	rest[tl] = '/';
	return 0;
}

static int walk(struct helper *h, struct walk *w, const char *path, unsigned flags)
{
	char rest[PATH_MAX * 2], comp[NAME_MAX + 1], target[PATH_MAX];
	char *p = rest;
	int links = 0;
	int create = (flags & IN_ROOT_CREATE) != 0, plain_dir = (flags & IN_ROOT_PLAIN_DIR) != 0;

	if (strlen(path) >= sizeof(rest))
		return report_errno(h, ENAMETOOLONG, "resolve %s", path);
	strcpy(rest, path);
	for (;;) {
		size_t len;
		int fd, last;
		struct stat st;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		len = strcspn(p, "/");
		if (len > NAME_MAX)
			return report_errno(h, ENAMETOOLONG, "resolve %s", path);
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		last = strspn(p, "/") == strlen(p);
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (w->depth == 0)
				return report_errno(h, EXDEV, "%s: a \"..\" or symlink leads out of the rootfs", path);
			unwind(w, w->depth - 1);
			continue;
		}
		fd = openat(w->fds[w->depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create)
			fd = create_component(w->fds[w->depth], comp, last && (flags & IN_ROOT_FILE));
		if (fd < 0 && errno == ENOENT && (flags & IN_ROOT_MAYBE_MISSING))
			return -1;
		if (fd < 0)
			return report(h, "resolve %s: %s", path, comp);
		if (fstat(fd, &st) < 0) {
			close(fd);
			return report(h, "stat %s", path);
		}
		if (S_ISLNK(st.st_mode)) {
			if (last && plain_dir) {
				close(fd);
				return report_errno(h, 0, "%s must be mounted on ordinary directory", path);
			}
			if (last && (flags & IN_ROOT_NOFOLLOW_LAST)) {
				close(fd);
				return report_errno(h, ELOOP, "%s is a symlink", path);
			}
			/* /proc/self/fd/N and friends are magic links: never follow them. */
			if (on_procfs(fd)) {
				close(fd);
				return report_errno(h, EXDEV, "%s: refusing to follow a link in /proc", path);
			}
			n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n < 0)
				return report(h, "readlink %s", path);
			target[n] = '\0';
			if (++links > MAX_LINKS)
				return report_errno(h, ELOOP, "resolve %s", path);
			/* Move the unread tail to the front of the buffer, then prepend the target. */
			memmove(rest, p, strlen(p) + 1);
			p = rest;
			if (splice_link(rest, sizeof(rest), target) < 0)
				return report(h, "resolve %s", path);
			if (target[0] == '/')
				unwind(w, 0);
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode)) {
			close(fd);
			return report_errno(h, ENOTDIR, "resolve %s: %s", path, comp);
		}
		if (w->depth >= MAX_DEPTH) {
			close(fd);
			return report_errno(h, ELOOP, "resolve %s", path);
		}
		w->fds[++w->depth] = fd;
	}
}

/*
 * Returns an O_PATH fd of `path` resolved inside rootfd, or -1 (reported).
 * IN_ROOT_CREATE: make missing components (the last one a file with IN_ROOT_FILE).
 * IN_ROOT_PLAIN_DIR: the last component must be a directory and not a symlink.
 * IN_ROOT_MAYBE_MISSING: a missing component returns -1 with errno ENOENT, unreported.
 */
int open_in_root(struct helper *h, int rootfd, const char *path, unsigned flags)
{
	struct walk w;
	struct stat st;
	int fd, err;

	w.depth = 0;
	w.fds[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (w.fds[0] < 0)
		return report(h, "dup the rootfs fd");
	if (walk(h, &w, path, flags) < 0) {
		err = errno;
		unwind(&w, 0);
		close(w.fds[0]);
		errno = err;
		return -1;
	}
	fd = w.fds[w.depth];
	w.depth--;
	unwind(&w, 0);
	if (w.depth >= 0 && fd != w.fds[0])
		close(w.fds[0]);
	if ((flags & IN_ROOT_PLAIN_DIR) && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
		close(fd);
		return report_errno(h, 0, "%s must be mounted on ordinary directory", path);
	}
	/* What the path resolves to counts, not its text: a symlink can lead into /proc. */
	if ((flags & IN_ROOT_NOT_ON_PROC) && on_procfs(fd)) {
		close(fd);
		return report_errno(h, 0, "%s cannot be mounted because it is inside /proc", path);
	}
	return fd;
}
