/*
 * tmpcopyup: copy the content of a directory of the image into the tmpfs just mounted
 * over it (podman's --read-only and --tmpfs ask for it; runc and crun do it).
 *
 * The source is the image's, so it may be hostile: everything goes by fd, nothing is
 * followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), a file is opened O_NONBLOCK and checked to
 * be the regular file it was a moment before (a fifo swapped in must not hang us), and
 * the depth is bounded. Owners, modes (set last, so a chown cannot clear set-id bits),
 * times, symlinks, hard links, fifos, sockets and device nodes are copied, and extended
 * attributes where the tmpfs and our privileges allow (a user namespace may not set
 * trusted.* or security.*); runc keeps owners, modes and symlinks only.
 */
#include "helper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_COPY_DEPTH 128
#define MAX_LINKS 1024

struct copy {
	struct helper *h;
	const char *where;  /* the mount's destination, for messages */
	struct {
		dev_t dev;
		ino_t ino;
		int fd;     /* O_PATH fd of the first copy, to link the others to */
	} links[MAX_LINKS];
	size_t n_links;
};

static int copy_dir(struct copy *c, int src, int dst, int depth);

static void copy_xattrs(struct copy *c, int src, int dst, const char *name)
{
	char names[65536], value[65536];
	ssize_t len = flistxattr(src, names, sizeof(names));

	for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(names + off) + 1) {
		ssize_t n = fgetxattr(src, names + off, value, sizeof(value));

		if (n >= 0 && fsetxattr(dst, names + off, value, (size_t)n, 0) < 0)
			log_msg(c->h, LOG_DEBUG, "tmpcopyup %s: %s: xattr %s not copied: %s", c->where, name,
				names + off, strerror(errno));
	}
}

/* Owner, then mode (a chown clears set-id bits), then times: the order that keeps them all. */
static int copy_meta(struct copy *c, int dst, const struct stat *st, const char *name)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (fchown(dst, st->st_uid, st->st_gid) < 0)
		return report(c->h, "tmpcopyup %s: chown %s", c->where, name);
	if (fchmod(dst, st->st_mode & 07777) < 0)
		return report(c->h, "tmpcopyup %s: chmod %s", c->where, name);
	if (futimens(dst, times) < 0)
		return report(c->h, "tmpcopyup %s: set the times of %s", c->where, name);
	return 0;
}

static int copy_data(int src, int dst, off_t size)
{
	off_t done = 0;

	while (done < size) {
		ssize_t n = sendfile(dst, src, NULL, (size_t)(size - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;  /* the file shrank meanwhile: copy what there is */
		done += n;
	}
	return 0;
}

/* A second name of a file already copied: link it, as the image has it. */
static int linked(struct copy *c, int dst, const char *name, const struct stat *st)
{
	char path[64];

	if (st->st_nlink < 2)
		return 0;
	for (size_t i = 0; i < c->n_links; i++) {
		if (c->links[i].dev != st->st_dev || c->links[i].ino != st->st_ino)
			continue;
		snprintf(path, sizeof(path), "self/fd/%d", c->links[i].fd);
		/* Through our own procfs: a magic link names the file, not a path. */
		if (linkat(c->h->procfd, path, dst, name, AT_SYMLINK_FOLLOW) < 0)
			return report(c->h, "tmpcopyup %s: link %s", c->where, name);
		return 1;
	}
	return 0;
}

static void remember_link(struct copy *c, int dst, const char *name, const struct stat *st)
{
	int fd;

	if (st->st_nlink < 2 || c->n_links >= MAX_LINKS)
		return;
	fd = openat(dst, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	c->links[c->n_links].dev = st->st_dev;
	c->links[c->n_links].ino = st->st_ino;
	c->links[c->n_links++].fd = fd;
}

static int copy_file(struct copy *c, int srcdir, int dst, const char *name, const struct stat *st)
{
	struct stat now;
	int src, out, ret;

	if ((ret = linked(c, dst, name, st)) != 0)
		return ret < 0 ? -1 : 0;
	src = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (src < 0)
		return report(c->h, "tmpcopyup %s: open %s", c->where, name);
	if (fstat(src, &now) < 0 || !S_ISREG(now.st_mode) || now.st_ino != st->st_ino) {
		close(src);
		return report_errno(c->h, EAGAIN, "tmpcopyup %s: %s changed while copied", c->where, name);
	}
	out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		close(src);
		return report(c->h, "tmpcopyup %s: create %s", c->where, name);
	}
	ret = copy_data(src, out, now.st_size) < 0 ? report(c->h, "tmpcopyup %s: copy %s", c->where, name) : 0;
	if (ret == 0) {
		copy_xattrs(c, src, out, name);
		ret = copy_meta(c, out, &now, name);
	}
	close(src);
	close(out);
	if (ret == 0)
		remember_link(c, dst, name, &now);
	return ret;
}

static int copy_symlink(struct copy *c, int srcdir, int dst, const char *name, const struct stat *st)
{
	char target[PATH_MAX];
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	ssize_t n = readlinkat(srcdir, name, target, sizeof(target) - 1);

	if (n < 0)
		return report(c->h, "tmpcopyup %s: readlink %s", c->where, name);
	target[n] = '\0';
	if (symlinkat(target, dst, name) < 0)
		return report(c->h, "tmpcopyup %s: symlink %s", c->where, name);
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return report(c->h, "tmpcopyup %s: chown %s", c->where, name);
	if (utimensat(dst, name, times, AT_SYMLINK_NOFOLLOW) < 0)
		return report(c->h, "tmpcopyup %s: set the times of %s", c->where, name);
	return 0;
}

static int copy_node(struct copy *c, int dst, const char *name, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };

	if (linked(c, dst, name, st) != 0)
		return 0;
	if (mknodat(dst, name, st->st_mode, st->st_rdev) < 0) {
		if (errno == EPERM && (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))) {
			/* a user namespace may not make device nodes: runc's copy has none either */
			log_msg(c->h, LOG_WARN, "tmpcopyup %s: device node %s not copied: %s", c->where, name,
				strerror(errno));
			return 0;
		}
		return report(c->h, "tmpcopyup %s: mknod %s", c->where, name);
	}
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(dst, name, st->st_mode & 07777, 0) < 0 || utimensat(dst, name, times, 0) < 0)
		return report(c->h, "tmpcopyup %s: set owner, mode and times of %s", c->where, name);
	remember_link(c, dst, name, st);
	return 0;
}

static int copy_subdir(struct copy *c, int srcdir, int dst, const char *name, int depth)
{
	int sub_src, sub_dst, ret;
	struct stat st;

	if (depth >= MAX_COPY_DEPTH)
		return report_errno(c->h, ELOOP, "tmpcopyup %s: more than %d directories deep", c->where,
				    MAX_COPY_DEPTH);
	sub_src = openat(srcdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub_src < 0)
		return report(c->h, "tmpcopyup %s: open %s", c->where, name);
	if (fstat(sub_src, &st) < 0 || mkdirat(dst, name, 0700) < 0 ||
	    (sub_dst = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		close(sub_src);
		return report(c->h, "tmpcopyup %s: make %s", c->where, name);
	}
	ret = copy_dir(c, sub_src, sub_dst, depth + 1);
	if (ret == 0) {
		copy_xattrs(c, sub_src, sub_dst, name);
		ret = copy_meta(c, sub_dst, &st, name);
	}
	close(sub_src);
	close(sub_dst);
	return ret;
}

static int copy_dir(struct copy *c, int src, int dst, int depth)
{
	int fd = fcntl(src, F_DUPFD_CLOEXEC, 3), ret = 0;
	struct dirent *e;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return report(c->h, "tmpcopyup %s: read the directory", c->where);
	}
	while (ret == 0 && (errno = 0, e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = report(c->h, "tmpcopyup %s: stat %s", c->where, e->d_name);
		else if (S_ISDIR(st.st_mode))
			ret = copy_subdir(c, src, dst, e->d_name, depth);
		else if (S_ISREG(st.st_mode))
			ret = copy_file(c, src, dst, e->d_name, &st);
		else if (S_ISLNK(st.st_mode))
			ret = copy_symlink(c, src, dst, e->d_name, &st);
		else
			ret = copy_node(c, dst, e->d_name, &st);
	}
	if (ret == 0 && errno)
		ret = report(c->h, "tmpcopyup %s: read the directory", c->where);
	closedir(d);
	return ret;
}

int copy_up(struct helper *h, int src, int dst, const char *where)
{
	struct copy *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return report(h, "tmpcopyup %s", where);
	c->h = h;
	c->where = where;
	ret = copy_dir(c, src, dst, 0);
	for (size_t i = 0; i < c->n_links; i++)
		close(c->links[i].fd);
	free(c);
	return ret;
}
