import pytest

from codepref.config import SandboxConfig, from_mapping, parse_overrides
from codepref.errors import ConfigError, UnknownNameError
from codepref.registry import Registry


def test_registry_is_lazy_and_suggests_names():
    reg: Registry[object] = Registry("scorer")
    reg.register("pagerank", "json:dumps")  # a lazy "module:attr" entry
    reg.register("codet", len)
    assert reg.names() == ["codet", "pagerank"]
    import json

    assert reg.get("pagerank") is json.dumps
    with pytest.raises(UnknownNameError, match="did you mean 'pagerank'"):
        reg.get("pagernk")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("codet", len)


def test_config_reports_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        from_mapping(SandboxConfig, {"workres": 2, "memory_mb": "lots", "timeout_s": -1, "cpus": 0})
    problems = info.value.problems
    assert any("unknown key 'workres'" in p and "did you mean 'workers'" in p for p in problems)
    assert any(p.startswith("memory_mb must be int") for p in problems)
    assert any("timeout_s must be > 0" in p for p in problems)
    assert any("cpus must be > 0" in p for p in problems)
    assert len(problems) == 4


def test_config_coerces_and_validates():
    cfg = from_mapping(SandboxConfig, {"timeout_s": 3, "workers": 2, "mounts": []})
    assert cfg.timeout_s == 3.0 and isinstance(cfg.timeout_s, float)
    assert cfg.n_workers == 2
    assert SandboxConfig(workers=0).n_workers >= 1
    with pytest.raises(ConfigError, match="HOST_PATH:/CONTAINER_PATH"):
        SandboxConfig(mounts=("nocolon",))


def test_overrides_parse_toml_scalars():
    assert parse_overrides(["workers=4", "image=foo:1", "cpus=1.5", "flag=true"]) == {
        "workers": 4, "image": "foo:1", "cpus": 1.5, "flag": True}
    with pytest.raises(ConfigError):
        parse_overrides(["novalue"])
