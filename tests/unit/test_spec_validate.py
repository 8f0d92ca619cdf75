"""validate_spec: one test (or parameter set) per rule, each on runc's default config."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeAlias

import pytest

from shim.errors import InvalidConfig
from shim.spec import default_config, load_spec, validate_spec
from shim.spec.kernel_names import PROPAGATIONS

Config: TypeAlias = dict[str, object]
Edit: TypeAlias = Callable[[Config], object]


def _config(rootless: bool = False) -> Config:
    config: Config = json.loads(default_config(rootless))
    return config


def _section(config: Config, name: str) -> Config:
    section = config[name]
    assert isinstance(section, dict)
    return section


def _validate(config: Config) -> None:
    validate_spec(load_spec(json.dumps(config).encode()))


def _fails(edit: Edit, message: str) -> None:
    config = _config()
    edit(config)
    with pytest.raises(InvalidConfig) as caught:
        _validate(config)
    assert str(caught.value) == message


def _passes(edit: Edit) -> None:
    config = _config()
    edit(config)
    _validate(config)


def _set(section: str, key: str, value: object) -> Edit:
    return lambda config: _section(config, section).__setitem__(key, value)


def _drop(key: str) -> Edit:
    return lambda config: config.pop(key)


def _namespaces(*kinds: str) -> Edit:
    return _set("linux", "namespaces", [{"type": kind} for kind in kinds])


def _both(*edits: Edit) -> Edit:
    def edit(config: Config) -> None:
        for one in edits:
            one(config)

    return edit


@pytest.mark.parametrize("rootless", [False, True])
def test_runc_default_config_is_valid(rootless: bool) -> None:
    _validate(_config(rootless))


def test_process_rules_apply_to_config_json() -> None:
    _fails(_drop("process"), "process property must not be empty")
    _fails(_set("process", "args", []), "args must not be empty")


# root, namespaces, id maps


def test_root_is_required() -> None:
    _fails(_drop("root"), "root must be specified")


def test_root_path_is_required() -> None:
    _fails(_set("root", "path", ""), "root.path: must not be empty")


def test_namespace_type_must_be_known() -> None:
    _fails(
        _namespaces("pid", "network", "foo", "uts", "mount"),
        'linux.namespaces[2].type: unknown namespace "foo"',
    )


def test_namespace_types_must_not_repeat() -> None:
    _fails(
        _namespaces("pid", "uts", "mount", "pid"),
        'linux.namespaces[3].type: duplicate namespace "pid"',
    )


def test_every_known_namespace_is_accepted() -> None:
    kinds = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
    maps = [{"containerID": 0, "hostID": 1000, "size": 1}]
    _passes(_both(_namespaces(*kinds), _set("linux", "uidMappings", maps)))


def test_namespace_path_must_be_absolute() -> None:
    _fails(
        _set("linux", "namespaces", [{"type": "mount"}, {"type": "uts", "path": "ns/uts"}]),
        'linux.namespaces[1].path: "ns/uts" is not an absolute path',
    )


def test_id_mappings_need_a_user_namespace() -> None:
    _fails(
        _set("linux", "gidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
        "User namespace mappings specified, but USER namespace isn't enabled in the config",
    )


def test_time_offsets_need_a_time_namespace() -> None:
    _fails(
        _set("linux", "timeOffsets", {"monotonic": {"secs": 1}}),
        "time namespace offsets specified, but time namespace isn't enabled in the config",
    )


def test_time_offsets_name_known_clocks() -> None:
    _fails(
        _both(_namespaces("mount", "uts", "time"), _set("linux", "timeOffsets", {"realtime": {}})),
        'linux.timeOffsets: unknown clock "realtime"',
    )


def _userns_maps(*maps: tuple[int, int, int]) -> Edit:
    entries = [{"containerID": c, "hostID": h, "size": s} for c, h, s in maps]
    return _both(_namespaces("user", "mount", "uts"), _set("linux", "uidMappings", entries))


def test_id_mapping_size_must_be_positive() -> None:
    _fails(
        _userns_maps((0, 1000, 1), (1, 2000, 0)),
        "linux.uidMappings[1].size: must be greater than zero",
    )


RANGE = "uids and gids must be in range 0-2147483647"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            (4294967295, 0, 1),
            f"linux.uidMappings[0]: {RANGE} (containerID 4294967295 + size 1 ends at 4294967295)",
        ),
        (
            (0, 4294967000, 1000),
            f"linux.uidMappings[0]: {RANGE} (hostID 4294967000 + size 1000 ends at 4294967999)",
        ),
        (
            (0, 2147483647, 2),
            f"linux.uidMappings[0]: {RANGE} (hostID 2147483647 + size 2 ends at 2147483648)",
        ),
        (
            (2, 0, 2147483647),
            f"linux.uidMappings[0]: {RANGE} (containerID 2 + size 2147483647 ends at 2147483648)",
        ),
    ],
)
def test_id_mappings_stay_in_runcs_id_range(mapping: tuple[int, int, int], message: str) -> None:
    """(uid_t)-1 must never become a mapped id (issue 16); runc's maxID bounds both sides."""
    _fails(_userns_maps(mapping), message)


def test_id_mapping_may_end_exactly_at_the_largest_id() -> None:
    _passes(_userns_maps((0, 0, 2147483647)))


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"uid": 4294967295}, "process.user.uid: 4294967295"),
        ({"gid": 2147483648}, "process.user.gid: 2147483648"),
        ({"additionalGids": [1, 4294967295]}, "process.user.additionalGids[1]: 4294967295"),
    ],
)
def test_process_ids_stay_in_runcs_id_range(user: Config, field: str) -> None:
    _fails(_set("process", "user", user), f"unable to setup user: {RANGE} ({field})")


def test_process_ids_may_be_the_largest_id() -> None:
    _passes(_set("process", "user", {"uid": 2147483647, "gid": 2147483647}))


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (
            {"uid": 4294967295},
            f"unable to setup user: {RANGE} (linux.devices[0].uid: 4294967295)",
        ),
        ({"gid": 2147483648}, f"unable to setup user: {RANGE} (linux.devices[0].gid: 2147483648)"),
        ({"major": -1}, "linux.devices[0].major: -1 is not a device number"),
        ({"minor": 4294967296}, "linux.devices[0].minor: 4294967296 is not a device number"),
    ],
)
def test_device_owners_and_numbers_are_range_checked(device: Config, message: str) -> None:
    node: Config = {"type": "c", "path": "/dev/x", "major": 1, "minor": 3} | device
    _fails(_set("linux", "devices", [node]), message)


def test_mount_id_mappings_are_checked_too() -> None:
    def edit(config: Config) -> None:
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts[0]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 0}]

    _fails(edit, "mounts[0].uidMappings[0].size: must be greater than zero")


# mounts, devices, hooks


def _add_mount(mount: Config) -> Edit:
    def edit(config: Config) -> None:
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts.append(mount)

    return edit


def test_mount_destination_must_be_absolute() -> None:
    _fails(
        _add_mount({"destination": "data", "type": "tmpfs", "source": "tmpfs"}),
        'mounts[7].destination: "data" is not an absolute path',
    )


def test_unknown_mount_options_pass_as_data() -> None:
    mount: Config = {
        "destination": "/x",
        "type": "tmpfs",
        "options": ["nosuid", "size=1m", "huge=never"],
    }
    _passes(_add_mount(mount))


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"type": "x", "path": "/dev/x"}, 'linux.devices[0].type: unknown device type "x"'),
        ({"type": "c", "path": "dev/x"}, 'linux.devices[0].path: "dev/x" is not an absolute path'),
    ],
)
def test_devices_need_a_known_type_and_absolute_path(device: Config, message: str) -> None:
    _fails(_set("linux", "devices", [device]), message)


def test_every_device_type_is_accepted() -> None:
    devices = [{"type": kind, "path": f"/dev/d{kind}", "major": 1, "minor": 1} for kind in "cbup"]
    _passes(_set("linux", "devices", devices))


def test_hook_path_must_be_absolute() -> None:
    _fails(
        lambda config: config.__setitem__("hooks", {"poststop": [{"path": "true"}]}),
        'hooks.poststop[0].path: "true" is not an absolute path',
    )


def test_hook_timeout_must_be_positive() -> None:
    hooks = {"createRuntime": [{"path": "/bin/true", "timeout": 0}]}
    _fails(
        lambda config: config.__setitem__("hooks", hooks),
        "hooks.createRuntime[0].timeout: must be greater than zero",
    )


# uts, security, propagation


def test_hostname_needs_a_uts_namespace() -> None:
    _fails(_namespaces("pid", "mount"), "unable to set hostname without a private UTS namespace")


def test_domainname_needs_a_uts_namespace() -> None:
    def edit(config: Config) -> None:
        config.pop("hostname")
        config["domainname"] = "example.org"
        _namespaces("mount")(config)

    _fails(edit, "unable to set domainname without a private UTS namespace")


def test_masked_paths_need_a_mount_namespace() -> None:
    _fails(
        _namespaces("pid", "uts"),
        "unable to restrict sys entries without a private MNT namespace",
    )


@pytest.mark.parametrize("value", sorted(PROPAGATIONS))
def test_known_rootfs_propagations_are_accepted(value: str) -> None:
    _passes(_set("linux", "rootfsPropagation", value))


def test_rootfs_propagation_must_be_known() -> None:
    _fails(
        _set("linux", "rootfsPropagation", "rpublic"),
        'linux.rootfsPropagation: unknown propagation "rpublic"',
    )
