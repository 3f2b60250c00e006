"""The public API is exactly what is listed here: adding or removing a name is a decision."""

from __future__ import annotations

import inspect

import asyncdev
import asyncdev.testing


def test_top_level_exports():
    assert sorted(asyncdev.__all__) == [
        "AppImportError",
        "AsyncdevError",
        "ClientDisconnected",
        "Config",
        "ConfigError",
        "Server",
        "StartupError",
        "__version__",
        "run",
        "serve",
    ]
    assert_exports_are_all_there_is(asyncdev)


def test_testing_exports():
    assert sorted(asyncdev.testing.__all__) == [
        "RunningServer", "django_live_server", "run_in_thread", "serving"]
    assert_exports_are_all_there_is(asyncdev.testing)


def assert_exports_are_all_there_is(module):
    for name in module.__all__:
        assert hasattr(module, name), name
    public = {n for n in dir(module) if not n.startswith("_")}
    imported = {n for n in public if inspect.ismodule(getattr(module, n))
                or getattr(getattr(module, n), "__module__", module.__name__) != module.__name__}
    helpers = {"annotations", "TYPE_CHECKING", "logger"}
    assert public - imported - helpers <= set(module.__all__)


def test_serve_signature_is_keyword_only_after_port():
    params = inspect.signature(asyncdev.serve).parameters
    assert list(params)[:3] == ["app", "host", "port"]
    assert params["reload"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["host"].default == "127.0.0.1"
    assert params["port"].default == 8000


def test_config_is_frozen_and_validates_by_option_name():
    import dataclasses

    import pytest

    config = asyncdev.Config(app="main:app")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]
    for option, value in [("port", 70000), ("port", "80"), ("interface", "cgi"),
                          ("timeout_keep_alive", -1), ("limit_concurrency", 0),
                          ("log_level", "loud"), ("root_path", "api/"), ("threads", 0),
                          ("static", ["static"]), ("forwarded_allow_ips", ["not-an-ip"])]:
        with pytest.raises(asyncdev.ConfigError, match=option):
            asyncdev.Config(**{option: value})
        with pytest.raises(ValueError):
            asyncdev.Config(**{option: value})
    with pytest.raises(TypeError):
        asyncdev.Config("main:app")  # type: ignore[misc]


def test_version():
    assert asyncdev.__version__.count(".") == 2
