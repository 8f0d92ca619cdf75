"""Compiled filters loaded for real: a forked child sets no_new_privs, calls seccomp(2)
with the program as the init helper will, then probes which syscalls still work.

The child reports on a pipe and never returns into pytest; the parent bounds every read
and wait with a deadline and always reaps it. No root needed: with no_new_privs set,
any process may load a filter.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import signal
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from cffi import FFI

from shim.record_decoder import convert
from shim.seccomp import CompiledFilter, compile_filter
from shim.spec.model import Seccomp
from shim.sys import libseccomp as _libseccomp
from tests.conftest import BUSYBOX, needs_busybox

pytestmark = pytest.mark.timeout(60)

_ffi = FFI()
_ffi.cdef(
    """
    struct sock_filter { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; };
    struct sock_fprog { unsigned short len; struct sock_filter *filter; };
    long syscall(long number, ...);
    int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
              unsigned long arg5);
    int personality(unsigned long persona);
    int unshare(int flags);
    """
)
_libc = _ffi.dlopen(None)
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
SECCOMP_SET_MODE_FILTER = 1
CLONE_NEWUTS = 0x04000000
TIMEOUT = 20.0


def _nr(name: str) -> int:
    number = _libseccomp.resolve_syscall(name)
    assert number is not None
    assert number >= 0
    return number


def compiled(**profile: object) -> CompiledFilter:
    return compile_filter(convert(profile, Seccomp))


def load(f: CompiledFilter) -> int:
    """What the helper does: no_new_privs, then seccomp(SET_MODE_FILTER, flags, &prog)."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(_ffi.errno, "prctl(PR_SET_NO_NEW_PRIVS)")
    program = _ffi.from_buffer("struct sock_filter[]", f.bpf)
    fprog = _ffi.new("struct sock_fprog *", {"len": f.length, "filter": program})
    ret = int(
        _libc.syscall(
            _ffi.cast("long", _nr("seccomp")),
            _ffi.cast("long", SECCOMP_SET_MODE_FILTER),
            _ffi.cast("long", f.flags),
            fprog,
        )
    )
    if ret < 0:
        raise OSError(_ffi.errno, "seccomp(SECCOMP_SET_MODE_FILTER)")
    return ret


def errno_of(call: Callable[[], object]) -> int:
    """0 if `call` succeeds, else its errno."""
    try:
        call()
    except OSError as err:
        return err.errno or -1
    return 0


def raw_syscall(number: int, *args: int) -> int:
    """A syscall by number through libc: 0 or more on success, else -errno."""
    ret = int(_libc.syscall(_ffi.cast("long", number), *(_ffi.cast("long", a) for a in args)))
    return ret if ret >= 0 else -_ffi.errno


class Outcome(NamedTuple):
    status: int  # as os.waitpid gives it
    output: bytes

    @property
    def report(self) -> object:
        assert os.WIFEXITED(self.status), self
        assert os.WEXITSTATUS(self.status) == 0, self.output.decode(errors="replace")
        return json.loads(self.output)


def in_filtered_child(f: CompiledFilter, probe: Callable[[int], object]) -> Outcome:
    """Fork; the child loads `f` and runs probe(listener fd or -1): its JSON result, or
    whatever it writes to fd 1 before exec, comes back as the output."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 70
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            # A SIGSYS death must not leave a core dump behind, piped to a collector or not.
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            listener = load(f)
            os.write(write_end, json.dumps(probe(listener)).encode())
            code = 0
        except BaseException:
            try:
                os.write(write_end, traceback.format_exc().encode())
            except BaseException:
                pass
        finally:
            os._exit(code)
    reaped = False
    try:
        os.close(write_end)
        deadline = time.monotonic() + TIMEOUT
        output = _read_to_eof(read_end, deadline)
        status = _wait(pid, deadline)
        reaped = True
        return Outcome(status, output)
    finally:
        os.close(read_end)
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _read_to_eof(fd: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("the filtered child kept its output open")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _wait(pid: int, deadline: float) -> int:
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("the filtered child did not exit")
        return os.waitpid(pid, 0)[1]
    finally:
        os.close(pidfd)


def test_errno_rule_denies_its_syscall_and_nothing_else(tmp_path: Path) -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
        ],
    )
    (tmp_path / "keep").mkdir()

    def probe(_: int) -> object:
        (tmp_path / "file").write_text("written")
        return {
            "mkdir": errno_of(lambda: os.mkdir(tmp_path / "new")),
            "rmdir": errno_of(lambda: os.rmdir(tmp_path / "keep")),
            "listdir": sorted(os.listdir(tmp_path)),
            "getpid": os.getpid() > 0,
        }

    assert in_filtered_child(f, probe).report == {
        "mkdir": errno.EPERM,
        "rmdir": errno.EROFS,
        "listdir": ["file", "keep"],
        "getpid": True,
    }
    assert (tmp_path / "file").read_text() == "written"
    assert not (tmp_path / "new").exists()


def test_arg_conditions_match_only_when_they_should() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {  # one index twice: either value matches (OR)
                "names": ["socket"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EXDEV,
                "args": [
                    {"index": 0, "value": socket.AF_PACKET, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": socket.AF_NETLINK, "op": "SCMP_CMP_EQ"},
                ],
            },
            {  # two indexes: both must match (AND); SOCK_CLOEXEC masked off the type
                "names": ["socket"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EMLINK,
                "args": [
                    {"index": 0, "value": socket.AF_INET, "op": "SCMP_CMP_EQ"},
                    {
                        "index": 1,
                        "value": 0xF,
                        "valueTwo": socket.SOCK_RAW,
                        "op": "SCMP_CMP_MASKED_EQ",
                    },
                ],
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EXDEV,
                "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}],
            },
        ],
    )

    def open_socket(family: int, kind: int, proto: int = 0) -> Callable[[], object]:
        return lambda: socket.socket(family, kind, proto).close()

    def personality(persona: int) -> Callable[[], object]:
        def call() -> None:
            if _libc.personality(persona) == -1:
                raise OSError(_ffi.errno, "personality")

        return call

    def probe(_: int) -> object:
        return {
            "packet": errno_of(open_socket(socket.AF_PACKET, socket.SOCK_RAW)),
            "netlink": errno_of(open_socket(socket.AF_NETLINK, socket.SOCK_RAW)),
            "inet raw": errno_of(open_socket(socket.AF_INET, socket.SOCK_RAW, 1)),
            "inet dgram": errno_of(open_socket(socket.AF_INET, socket.SOCK_DGRAM)),
            "unix stream": errno_of(open_socket(socket.AF_UNIX, socket.SOCK_STREAM)),
            "personality query": errno_of(personality(0xFFFFFFFF)),
            "personality linux": errno_of(personality(0)),
        }

    assert in_filtered_child(f, probe).report == {
        "packet": errno.EXDEV,
        "netlink": errno.EXDEV,
        "inet raw": errno.EMLINK,
        "inet dgram": 0,
        "unix stream": 0,
        "personality query": errno.EXDEV,
        "personality linux": 0,
    }


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_kill_and_trap_end_the_process_with_sigsys(action: str) -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["getppid"], "action": action}]
    )
    outcome = in_filtered_child(f, lambda _: os.getppid())
    assert os.WIFSIGNALED(outcome.status), outcome
    assert os.WTERMSIG(outcome.status) == signal.SIGSYS
    assert outcome.output == b""


def test_trace_without_a_tracer_is_enosys_and_log_allows(tmp_path: Path) -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE"},
            {"names": ["rmdir"], "action": "SCMP_ACT_LOG"},
        ],
    )
    (tmp_path / "gone").mkdir()

    def probe(_: int) -> object:
        return [
            errno_of(lambda: os.mkdir(tmp_path / "new")),
            errno_of(lambda: os.rmdir(tmp_path / "gone")),
        ]

    assert in_filtered_child(f, probe).report == [errno.ENOSYS, 0]
    assert not (tmp_path / "gone").exists()


def test_notify_load_hands_back_a_listener_fd() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    )
    assert f.notify
    # The child never calls mkdir: with nobody reading the listener, it would block.
    report = in_filtered_child(f, lambda fd: [fd, os.readlink(f"/proc/self/fd/{fd}")]).report
    assert isinstance(report, list)
    fd, target = report
    assert fd > 2
    assert target == "anon_inode:seccomp notify"


def test_log_and_spec_allow_flags_load() -> None:
    f = compiled(
        defaultAction="SCMP_ACT_ALLOW",
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV}],
    )
    assert f.flags == 0b110
    assert in_filtered_child(f, lambda _: errno_of(os.getppid)).report == 0  # getppid: no errno
    assert in_filtered_child(f, lambda _: raw_syscall(_nr("getppid"))).report == -errno.EXDEV


# containerd's default profile (contrib/seccomp, 1.5) for a process without CAP_SYS_ADMIN,
# plus what newer releases allow: what most containers run under.
CONTAINERD_ALLOWED = """
accept accept4 access alarm bind brk capget capset chdir chmod chown chown32 clock_getres
clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64
close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
epoll_ctl epoll_ctl_old epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2 execve execveat
exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock
fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
ftruncate64 futex futex_time64 futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
ioprio_set io_setup io_submit ipc kill lchown lchown32 lgetxattr link linkat listen listxattr
llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create
mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr
mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64
mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap nanosleep
newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 poll
ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 pselect6 pselect6_time64 pwrite64
pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socket socketcall socketpair splice stat stat64 statfs statfs64 statx
symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64
utimes vfork vmsplice wait4 waitid waitpid write writev
arch_prctl modify_ldt
"""
CLONE_NAMESPACES = 0x7E020000  # NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP


def containerd_default_profile() -> dict[str, object]:
    native = _libseccomp.native_arch()
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": (
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] if native == 0xC000003E else []
        ),
        "syscalls": [
            {"names": CONTAINERD_ALLOWED.split(), "action": "SCMP_ACT_ALLOW"},
            *(
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}],
                }
                for persona in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)
            ),
            {  # clone, but not into new namespaces (arg 0 holds the flags but on s390)
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": CLONE_NAMESPACES, "op": "SCMP_CMP_MASKED_EQ"}],
            },
            # glibc falls back to clone on ENOSYS, but not on EPERM.
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
        ],
    }


def test_containerd_default_profile_denies_what_it_does_not_list() -> None:
    f = compile_filter(convert(containerd_default_profile(), Seccomp))

    def fork_and_reap() -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    def unshare_uts() -> None:
        if _libc.unshare(CLONE_NEWUTS) != 0:
            raise OSError(_ffi.errno, "unshare")

    def probe(_: int) -> object:
        return {
            "fork": errno_of(fork_and_reap),
            "unshare": errno_of(unshare_uts),
            "sysfs": raw_syscall(_nr("sysfs"), 3),  # older than the profile, not listed
            "epoll_pwait2": raw_syscall(_nr("epoll_pwait2")),  # newer than the profile
            "unknown": raw_syscall(5000),
            "clone3": raw_syscall(_nr("clone3")),
        }

    assert in_filtered_child(f, probe).report == {
        "fork": 0,
        "unshare": errno.EPERM,
        "sysfs": -errno.EPERM,
        # runc's -ENOSYS stub: what the profile cannot know about is "not implemented".
        "epoll_pwait2": -errno.ENOSYS,
        "unknown": -errno.ENOSYS,
        "clone3": -errno.ENOSYS,
    }


@needs_busybox
def test_containerd_default_profile_runs_busybox() -> None:
    f = compile_filter(convert(containerd_default_profile(), Seccomp))

    def exec_busybox(_: int) -> object:
        os.execv(BUSYBOX, ["busybox", "sh", "-c", "echo ok; ls / >/dev/null && echo listed"])

    outcome = in_filtered_child(f, exec_busybox)
    assert os.WIFEXITED(outcome.status), outcome
    assert (os.WEXITSTATUS(outcome.status), outcome.output) == (0, b"ok\nlisted\n")
