# The C module behind `signal`, used directly where start-up time counts.
NSIG: int
SIGKILL: int
SIGTERM: int

def pidfd_send_signal(pidfd: int, sig: int, siginfo: None = None, flags: int = 0, /) -> None: ...
def __getattr__(name: str) -> int: ...
