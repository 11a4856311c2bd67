import pytest

from edgeq.errors import ConfigError
from edgeq.device import Inventory, resolve_device
from edgeq.transport import DeviceAddress, open_transport


def test_device_addresses_parse_ssh_and_adb():
    ssh = DeviceAddress.parse("ssh://pi@10.0.0.2:2222")
    assert (ssh.kind, ssh.user, ssh.host, ssh.port) == ("ssh", "pi", "10.0.0.2", 2222)
    assert str(ssh) == "ssh://pi@10.0.0.2:2222"
    assert DeviceAddress.parse("adb://127.0.0.1:5555").serial == "127.0.0.1:5555"


@pytest.mark.parametrize("text, message", [
    ("ssh://", "names no host"), ("adb://", "names no serial"), ("ftp://x", "cannot read device"),
    ("ssh://h:99999", "bad port"),
])
def test_bad_device_addresses_say_how_to_write_them(text, message):
    with pytest.raises(ConfigError, match=message):
        DeviceAddress.parse(text)


def test_a_device_that_does_not_match_the_profiles_transport_is_refused():
    with pytest.raises(ConfigError, match="reached over adb, but the profile says 'ssh'"):
        open_transport("ssh", DeviceAddress.parse("adb://X"))
    with pytest.raises(ConfigError, match="needs a device address") as info:
        open_transport("adb")
    assert "--device adb://SERIAL" in info.value.hint


def test_inventory_names_devices_and_their_profiles(tmp_path):
    path = tmp_path / "edgeq-lab.toml"
    path.write_text('[devices.pi]\nprofile = "rpi5"\naddress = "ssh://pi@10.0.0.2"\nidentity = "~/.ssh/lab"\n'
                    '[devices.phone]\nprofile = "pixel-8"\nserial = "1A2B"\n'
                    '[devices.board]\nprofile = "rpi4"\nhost = "board.local"\nport = 2222\nuser = "root"\n')
    address, profile = resolve_device("pi", inventory=path, trust_new_host=True)
    assert (address.host, address.user, profile, address.trust_new_host) == ("10.0.0.2", "pi", "rpi5", True)
    assert address.identity.name == "lab" and "~" not in str(address.identity)
    assert resolve_device("phone", inventory=path)[0].serial == "1A2B"
    assert resolve_device("board", inventory=path)[0].port == 2222
    assert resolve_device("ssh://me@h", inventory=path) == (DeviceAddress.parse("ssh://me@h"), None)


@pytest.mark.parametrize("body, message", [
    ('[devices.pi]\naddress = "ssh://h"\n', "key 'profile' is required"),
    ('[devices.pi]\nprofile = "rpi5"\nadress = "ssh://h"\n', "unknown key 'adress'"),
    ('[devices.pi]\nprofile = "rpi5"\n', "no way to reach it"),
    ('[devices.pi]\nprofile = "rpi5"\nhost = "h"\nport = "22"\n', "key 'port' must be a TCP port"),
    ('[device.pi]\nprofile = "rpi5"\n', "unknown table 'device'"),
])
def test_inventory_errors_name_the_file_the_device_and_the_key(tmp_path, body, message):
    path = tmp_path / "lab.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message) as info:
        Inventory.load(path)
    assert str(path) in info.value.message


def test_an_unknown_device_name_lists_the_known_ones(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text('[devices.pi]\nprofile = "rpi5"\nserial = "X"\n')
    with pytest.raises(ConfigError, match="no device named 'nano'") as info:
        resolve_device("nano", inventory=path)
    assert info.value.hint == "known: pi"


def test_an_adb_address_may_name_its_adb_server():
    address = DeviceAddress.parse("adb://emulator-5554?server=tcp:localhost:5099")
    assert (address.serial, address.options) == ("emulator-5554", {"server": "tcp:localhost:5099"})
    with pytest.raises(ConfigError, match="unknown option 'port'"):
        DeviceAddress.parse("adb://X?port=1")
