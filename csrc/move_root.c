/*
 * The root switch without pivot_root: --no-pivot (for a rootfs on a ramdisk) moves the
 * rootfs over "/" and chroots into it; a container without a mount namespace of its own
 * only chroots (runc's two other paths).
 *
 * The old root stays in the container's mount namespace underneath, with every mount of
 * the host's on it. The kernel lets a user namespace mount a fresh procfs or sysfs only
 * while one of them is fully visible somewhere in the mount namespace (no mounts over any
 * of its files), and the host's /proc is: a container process could then mount an
 * unmasked procfs. So first, like runc's msMoveRoot, detach every full procfs and sysfs
 * outside the rootfs, or cover it with a tmpfs where detaching is refused.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* mountinfo escapes space, tab, newline and backslash as \ooo: undo it in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Whether `path` is `dir` or below it. */
static int below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/*
 * One mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype source super".
 * Returns the mount point of a full procfs or sysfs outside the rootfs, else NULL.
 */
static char *full_proc_or_sys(char *line, const char *rootfs)
{
	char *fields[5], *sep, *rest, *fstype, *tok = line;
	int n = 0;

	while (n < 5 && (fields[n] = strsep(&tok, " ")))
		n++;
	if (n < 5 || !tok || !(sep = strstr(tok, " - ")))
		return NULL;
	rest = sep + 3;
	fstype = strsep(&rest, " ");
	if (strcmp(fstype, "proc") && strcmp(fstype, "sysfs"))
		return NULL;
	unescape(fields[3]);
	unescape(fields[4]);
	/* Only a mount of the whole filesystem is "full"; a bind of a part of it is not. */
	if (strcmp(fields[3], "/") || below(fields[4], rootfs))
		return NULL;
	return fields[4];
}

static int hide(struct helper *h, const char *point)
{
	/* Our unmount must not propagate to the host. */
	if (mount(NULL, point, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
		/*
		 * ENOENT: under a mount detached a moment ago, gone with it. EINVAL: no longer a
		 * mount point by this path, e.g. the /proc of a copy of "/" stacked below ours: no
		 * path reaches it (runc fails there; a stacked host root keeps that copy, covered).
		 */
		if (errno == ENOENT || errno == EINVAL)
			return 0;
		return report(h, "make %s a slave before detaching it", point);
	}
	if (umount2(point, MNT_DETACH) == 0)
		return 0;
	if (errno != EINVAL && errno != EPERM)
		return report(h, "detach %s", point);
	/* Not ours to unmount (a locked mount in a user namespace): cover it. */
	if (mount("tmpfs", point, "tmpfs", 0, NULL) < 0)
		return report(h, "cover %s with a tmpfs", point);
	return 0;
}

static int hide_host_proc_and_sys(struct helper *h, const char *rootfs)
{
	char *line = NULL;
	size_t cap = 0;
	int fd, ret = 0;
	FILE *f;

	/* Our own procfs instance: the container cannot have arranged what it says. */
	fd = open_in_proc(h, "self/mountinfo", O_RDONLY);
	if (fd < 0 || !(f = fdopen(fd, "re"))) {
		if (fd >= 0)
			close(fd);
		return report(h, "open /proc/self/mountinfo");
	}
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		char *point;

		line[strcspn(line, "\n")] = '\0';
		point = full_proc_or_sys(line, rootfs);
		if (point)
			ret = hide(h, point);
	}
	free(line);
	fclose(f);
	return ret;
}

int move_root(struct helper *h)
{
	const char *rootfs = h->boot.rootfs;

	if (hide_host_proc_and_sys(h, rootfs) < 0)
		return -1;
	if (chdir(rootfs) < 0)
		return report(h, "chdir %s", rootfs);
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		return report(h, "move the rootfs to /");
	if (chroot(".") < 0)
		return report(h, "chroot");
	if (chdir("/") < 0)
		return report(h, "chdir /");
	return 0;
}

/*
 * No mount namespace: the container shares the runtime's mounts, so moving anything over
 * "/" would move the host's root. A chroot into the rootfs (our bind of it) is all.
 */
int chroot_root(struct helper *h)
{
	const char *rootfs = h->boot.rootfs;

	if (chdir(rootfs) < 0)
		return report(h, "chdir %s", rootfs);
	if (chroot(".") < 0)
		return report(h, "chroot %s", rootfs);
	if (chdir("/") < 0)
		return report(h, "chdir /");
	return 0;
}

/* exec into such a container: into its init's root (runc would leave it on the host's). */
int enter_root(struct helper *h)
{
	int fd = h->boot.root_fd;

	if (fd < 0)
		return 0;
	if (fchdir(fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return report(h, "enter the container's root");
	close(fd);
	h->boot.root_fd = -1;
	return 0;
}
