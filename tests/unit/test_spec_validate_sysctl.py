"""validate_spec's sysctl rules: /proc/sys is only partly namespaced (runc's texts)."""

from __future__ import annotations

import pytest

from shim.errors import InvalidConfig
from shim.spec import validate_spec
from shim.spec.model import Linux, Namespace, Process, Root, Spec
from shim.spec.validate import sysctl_path

_ALL = ("pid", "network", "ipc", "uts", "mount")


def _spec(sysctl: dict[str, str], kinds: tuple[str, ...] = _ALL, netns: str = "") -> Spec:
    namespaces = [Namespace(kind) for kind in kinds]
    if netns:
        namespaces.append(Namespace("network", netns))
    return Spec(
        process=Process(args=["sh"], cwd="/"),
        root=Root("rootfs"),
        linux=Linux(namespaces=namespaces, sysctl=sysctl),
    )


def _fails(spec: Spec, message: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        validate_spec(spec)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "name", ["kernel.msgmax", "kernel.shm_rmid_forced", "fs.mqueue.queues_max", "kernel/sem"]
)
def test_ipc_sysctls_need_an_ipc_namespace(name: str) -> None:
    validate_spec(_spec({name: "1"}))
    dotted = name.replace("/", ".")
    _fails(
        _spec({name: "1"}, ("mount",)),
        f'sysctl "{dotted}" is not allowed in the hosts ipc namespace',
    )


def test_net_sysctls_need_a_network_namespace() -> None:
    validate_spec(_spec({"net.ipv4.ip_forward": "1"}))
    _fails(
        _spec({"net.ipv4.ip_forward": "1"}, ("mount",)),
        'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
    )


def test_slash_separated_names_are_read_as_sysctl8_does() -> None:
    _fails(
        _spec({"net/ipv4/conf/eno2.100/rp_filter": "1"}, ("mount",)),
        'sysctl "net.ipv4.conf.eno2/100.rp_filter" not allowed in host network namespace',
    )


def test_joining_our_own_network_namespace_counts_as_the_host_one() -> None:
    _fails(
        _spec({"net.core.somaxconn": "9"}, ("mount",), netns="/proc/self/ns/net"),
        'sysctl "net.core.somaxconn" not allowed in host network namespace',
    )


def test_a_missing_netns_path_is_reported() -> None:
    _fails(
        _spec({"net.core.somaxconn": "9"}, ("mount",), netns="/nonexistent/ns"),
        "invalid netns path: stat /nonexistent/ns: No such file or directory",
    )


def test_kernel_domainname_needs_a_uts_namespace() -> None:
    validate_spec(_spec({"kernel.domainname": "example.org"}))
    _fails(
        _spec({"kernel.domainname": "example.org"}, ("mount",)),
        'sysctl "kernel.domainname" is not in a separate kernel namespace',
    )


def test_kernel_hostname_conflicts_with_the_hostname_field() -> None:
    _fails(
        _spec({"kernel.hostname": "h"}),
        'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field',
    )


def test_host_wide_sysctls_are_refused() -> None:
    _fails(
        _spec({"vm.swappiness": "10"}),
        'sysctl "vm.swappiness" is not in a separate kernel namespace',
    )


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
        ("net/ipv4/conf/lo.0/forwarding", "net/ipv4/conf/lo.0/forwarding"),
        ("net/ipv4/conf/eno2.100/rp_filter", "net/ipv4/conf/eno2.100/rp_filter"),
        ("kernel/sem", "kernel/sem"),
    ],
)
def test_a_slash_separated_key_keeps_its_dots(key: str, path: str) -> None:
    """Issue 16 #7: `lo.0` is an interface name, not two levels (it was written to lo/0)."""
    assert sysctl_path(key) == path


@pytest.mark.parametrize(
    "key",
    [
        "net/ipv4/../../kernel/core_pattern",
        "net/ipv4/conf/./forwarding",
        "net/ipv4//ip_forward",
        "net/ipv4/ip_forward/",
        "net..ipv4.ip_forward",
    ],
)
def test_a_key_that_walks_instead_of_naming_is_refused(key: str) -> None:
    """Keeping dots must not let `..` climb from net/ to kernel/ (host-wide files)."""
    _fails(_spec({key: "1"}), f'linux.sysctl: invalid key "{key}"')
