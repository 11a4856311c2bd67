import pytest

from edgeq.errors import ProfileError
from edgeq.profiles import cpu_name, describe_host, list_profiles, load_profile, profile_from_dict


def test_shipped_profiles_all_validate_and_cover_the_device_types():
    names = {p.name for p in list_profiles()}
    assert {"host", "rpi4", "rpi5", "jetson-orin-nano", "pixel-8", "galaxy-s23", "x86-server"} <= names


def test_arm_profiles_use_qnnpack():
    for profile in list_profiles():
        if profile.arch in ("aarch64", "armv7"):
            assert profile.engine == "qnnpack", profile.name


def test_host_profile_is_detected_from_this_machine():
    host = load_profile("host")
    facts = describe_host()
    assert (host.arch, host.engine, host.cores) == (facts["arch"], facts["engine"], facts["cores"])
    if host.arch == "x86_64":
        vnni = {"avx512_vnni", "avx_vnni"} & set(host.isa)
        assert host.engine == ("x86" if vnni else "fbgemm")
        assert host.reduce_range == (not vnni)


def test_fbgemm_without_vnni_reduces_range():
    old = profile_from_dict({"name": "old", "arch": "x86_64", "engine": "fbgemm", "transport": "ssh", "isa": ["avx2"]})
    new = profile_from_dict({"name": "new", "arch": "x86_64", "engine": "fbgemm", "transport": "ssh", "isa": ["avx512_vnni"]})
    assert old.reduce_range and not new.reduce_range


def test_user_profile_file_loads_by_path(tmp_path):
    path = tmp_path / "board.toml"
    path.write_text('name = "board"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "ssh"\nthreads = 2\n')
    profile = load_profile(str(path))
    assert (profile.name, profile.default_threads, profile.formats) == ("board", 2, ("pte", "ptl"))


def test_unknown_key_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "ssh"\ncolour = "red"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert str(path) in str(info.value) and "'colour'" in str(info.value)


def test_bad_value_lists_the_allowed_values(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\narch = "mips"\nengine = "qnnpack"\ntransport = "ssh"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert "'arch'" in str(info.value) and "aarch64" in info.value.hint


def test_a_language_models_group_size_is_read_and_must_be_a_power_of_two(tmp_path):
    path = tmp_path / "phone.toml"
    path.write_text('name = "phone"\narch = "aarch64"\nengine = "qnnpack"\ntransport = "adb"\nllm_group_size = 128\n')
    assert load_profile(str(path)).llm_group_size == 128
    assert load_profile("host").llm_group_size == 32
    for bad in (48, 8, True, "32"):
        with pytest.raises(ProfileError, match="'llm_group_size' must be a power of two"):
            profile_from_dict({"name": "x", "arch": "aarch64", "engine": "qnnpack", "transport": "ssh",
                               "llm_group_size": bad})


def test_engine_must_run_on_the_arch():
    with pytest.raises(ProfileError, match="does not run on arch"):
        profile_from_dict({"name": "x", "arch": "aarch64", "engine": "fbgemm", "transport": "ssh"})


def test_missing_required_key_is_named():
    with pytest.raises(ProfileError, match="'engine'"):
        profile_from_dict({"name": "x", "arch": "aarch64", "transport": "ssh"})


def test_detect_only_describes_the_local_machine():
    with pytest.raises(ProfileError, match="detect"):
        profile_from_dict({"name": "x", "detect": True, "transport": "ssh"})


def test_unknown_profile_name_lists_known_ones():
    with pytest.raises(ProfileError) as info:
        load_profile("rpi9")
    assert "rpi5" in info.value.hint


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(str(path))


def test_cpu_name_reads_x86s_model_name():
    cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\n"
    assert cpu_name(cpuinfo) == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"


def test_cpu_name_counts_arm_cores_by_part_and_adds_the_boards_model():
    core = "processor\t: {n}\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: {part}\n\n"
    pi = "".join(core.format(n=n, part="0xd0b") for n in range(4)) + "Model\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    assert cpu_name(pi) == "4x Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)"
    phone = "".join(core.format(n=n, part=part) for n, part in enumerate(["0xd46"] * 4 + ["0xd4d"] * 4 + ["0xd4e"]))
    assert cpu_name(phone) == "4x Cortex-A510 + 4x Cortex-A715 + 1x Cortex-X3"


def test_cpu_name_says_nothing_rather_than_guess():
    assert cpu_name("") is None and cpu_name("processor\t: 0\nBogoMIPS\t: 50.00\n") is None
    assert cpu_name("CPU part\t: 0xfff\n") == "1x Arm part 0xfff"
