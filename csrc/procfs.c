/*
 * procfs, only from places the container cannot reach (CVE-2019-16884, CVE-2025-52881).
 *
 * H1 reads cap_last_cap and its setgroups policy from the host's /proc, through an fd
 * opened before it joins any mount namespace. H2 writes sysctls through a procfs
 * instance of its own (fsopen), detached from every mount tree, so no image symlink,
 * volume or hook overmount can redirect a read or a write.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PROC_SUPER_MAGIC 0x9fa0

int on_procfs(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

static int openat_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int read_small(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat_beneath(dirfd, path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int host_proc(void)
{
	int fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && !on_procfs(fd)) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	return fd;
}

/* H1, first thing: values that are the host's, whatever the container does later. */
int read_host_facts(struct helper *h)
{
	char buf[32];

	h->procfd = host_proc();  /* kept by H1 until read_setgroups, never passed to H2 */
	if (h->procfd < 0 || read_small(h->procfd, "sys/kernel/cap_last_cap", buf, sizeof(buf)) < 0)
		return report(h, "read the host's /proc/sys/kernel/cap_last_cap");
	h->last_cap = atoi(buf);
	if (h->last_cap < 0 || h->last_cap > 63)
		return report_errno(h, ERANGE, "cap_last_cap %d", h->last_cap);
	return 0;
}

/* H1, after joining or making its user namespace and before cloning H2. */
int read_setgroups(struct helper *h)
{
	char buf[16];
	int proc = h->procfd;

	h->setgroups_allowed = 1;
	if (proc < 0)
		return 0;
	/* "self" is a plain symlink inside procfs; magic links stay refused. */
	if (read_small(proc, "self/setgroups", buf, sizeof(buf)) == 0)
		h->setgroups_allowed = strncmp(buf, "deny", 4) != 0;
	close(proc);
	h->procfd = -1;
	return 0;
}

/* H2 of create, before anything of the container's is mounted: its own procfs. */
int open_private_proc(struct helper *h)
{
	int fs = fsopen("proc", FSOPEN_CLOEXEC), mnt;

	if (fs < 0)
		return report(h, "fsopen proc");
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		close(fs);
		return report(h, "create a private procfs");
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	close(fs);
	if (mnt < 0)
		return report(h, "mount a private procfs");
	h->procfd = mnt;
	return 0;
}

/*
 * H2 of create: a second procfs, pid directories only (subset=pid: no sysrq-trigger, no
 * sys/), held until the exec fifo is reopened through it. Never the container's /proc:
 * an image without a /proc mount and a regular file at proc/self/fd/N there would take
 * the open, and the process would start at `create`.
 */
int open_fifo_proc(struct helper *h)
{
	int fs = fsopen("proc", FSOPEN_CLOEXEC), mnt;

	if (fs < 0)
		return report(h, "fsopen proc for the exec fifo");
	if (fsconfig(fs, FSCONFIG_SET_STRING, "subset", "pid", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		close(fs);
		return report(h, "create a pid-only procfs for the exec fifo");
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	close(fs);
	if (mnt < 0)
		return report(h, "mount a pid-only procfs for the exec fifo");
	h->fifo_proc = mnt;
	return 0;
}

int open_in_proc(struct helper *h, const char *path, int flags)
{
	return openat_beneath(h->procfd, path, flags);
}
