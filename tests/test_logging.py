"""Formatters (escaping, colours), configure_logging, the banner, the event loop choice."""

from __future__ import annotations

import datetime
import io
import logging
import sys

import pytest

from asyncdev import _banner, _logging
from asyncdev._banner import format_banner, lan_address
from asyncdev._config import Config
from asyncdev._errors import ConfigError
from asyncdev._logging import (
    ACCESS_FORMAT,
    AccessFormatter,
    DefaultFormatter,
    configure_logging,
    escape_control,
    should_use_colour,
)

ESC = "\x1b"


@pytest.fixture
def restore_loggers():
    """configure_logging changes process-wide loggers: put them back for other tests."""
    names = ("asyncdev", "asyncdev.error", "asyncdev.access")
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def access_record(target: str, status: int = 200, client: str = "127.0.0.1:5000"):
    return logging.LogRecord(
        "asyncdev.access", logging.INFO, __file__, 1, ACCESS_FORMAT,
        (client, "GET", target, "1.1", status, 1.25), None,
    )


# --- escaping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/plain/path?q=1", "/plain/path?q=1"),
        ("/caf\u00e9", "/caf\u00e9"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        (f"{ESC}[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85", "c1\\x85"),
        ("bidi\u202e", "bidi\\u202e"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_escape_control(raw, escaped):
    assert escape_control(raw) == escaped


def test_escaping_is_unambiguous():
    # A literal "\x1b" typed by the client must not read like an escaped ESC byte.
    assert escape_control("\\x1b") != escape_control(ESC)


@pytest.mark.parametrize("colour", [False, True])
def test_access_formatter_never_lets_a_control_byte_through(colour):
    formatter = AccessFormatter(use_colour=colour)
    hostile = f"/{ESC}]0;pwned\x07\r\n12:00:00 127.0.0.1 - forged\x00\x9b"
    line = formatter.format(access_record(hostile))
    assert "\r" not in line and "\n" not in line and "\x00" not in line
    assert "\x07" not in line and "\x9b" not in line
    without_our_colours = line
    for code in ("\x1b[0m", "\x1b[32m"):
        without_our_colours = without_our_colours.replace(code, "")
    assert ESC not in without_our_colours
    assert "\\x1b]0;pwned\\x07\\r\\n" in line


def test_access_formatter_line_shape_and_record_left_intact():
    record = access_record("/x")
    line = AccessFormatter(use_colour=False).format(record)
    assert line.endswith('127.0.0.1:5000 - "GET /x HTTP/1.1" 200 1.2ms')
    assert record.msg == ACCESS_FORMAT
    assert record.args == ("127.0.0.1:5000", "GET", "/x", "1.1", 200, 1.25)


@pytest.mark.parametrize(
    ("status", "colour"), [(200, "\x1b[32m"), (304, "\x1b[36m"), (404, "\x1b[33m"),
                           (500, "\x1b[1;31m")],
)
def test_access_formatter_colours_the_status_by_class(status, colour):
    line = AccessFormatter(use_colour=True).format(access_record("/", status))
    assert f"{colour}{status}\x1b[0m" in line
    assert str(status) in AccessFormatter(use_colour=False).format(access_record("/", status))
    assert ESC not in AccessFormatter(use_colour=False).format(access_record("/", status))


def test_error_formatter_escapes_arguments_but_keeps_tracebacks():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "asyncdev.error", logging.ERROR, __file__, 1, "Exception in ASGI application (%s %s)",
        ("GET", "/a\r\nFAKE LINE"), exc_info,
    )
    text = DefaultFormatter(use_colour=False).format(record)
    first, _, rest = text.partition("\n")
    assert "ERROR" in first and "/a\\r\\nFAKE LINE" in first
    assert rest.startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in rest


# --- colour choice and configuration ----------------------------------------------------


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_choice(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert should_use_colour(None, _TTY()) is True
    assert should_use_colour(None, io.StringIO()) is False
    assert should_use_colour(False, _TTY()) is False
    assert should_use_colour(True, io.StringIO()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert should_use_colour(None, _TTY()) is False


def test_configure_logging_is_idempotent_and_honours_the_level(restore_loggers):
    stream = io.StringIO()
    configure_logging(Config(log_level="trace"), stream=stream)
    configure_logging(Config(log_level="trace"), stream=stream)
    error = logging.getLogger("asyncdev.error")
    access = logging.getLogger("asyncdev.access")
    ours = [h for h in error.handlers if getattr(h, "_asyncdev_handler", False)]
    assert len(ours) == 1
    error.log(_logging.TRACE, "trace %s", "detail")
    access.info(ACCESS_FORMAT, "c:1", "GET", "/t", "1.1", 200, 0.5)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("TRACE    trace detail")
    assert lines[1].endswith('c:1 - "GET /t HTTP/1.1" 200 0.5ms')


def test_configure_logging_without_access_log(restore_loggers):
    stream = io.StringIO()
    configure_logging(Config(access_log=False), stream=stream)
    logging.getLogger("asyncdev.access").info(ACCESS_FORMAT, "c:1", "GET", "/", "1.1", 200, 0.5)
    assert stream.getvalue() == ""


# --- banner -----------------------------------------------------------------------------

NOW = datetime.datetime(2026, 3, 17, 10, 4, 5)


def banner(**overrides):
    options = {
        "version": "1.2.3", "app_description": "main:app", "interface": "asgi3",
        "loop_name": "uvloop", "urls": ["http://127.0.0.1:8000"], "reload": False,
        "bound_all_interfaces": False, "lan_url": None, "colour": False, "now": NOW,
    }
    options.update(overrides)
    return format_banner(**options)


def test_banner_on_loopback():
    assert banner() == (
        "March 17, 2026 - 10:04:05\n"
        "asyncdev 1.2.3, app main:app (ASGI 3), loop uvloop\n"
        "Starting development server at http://127.0.0.1:8000/\n"
        "Quit the server with CONTROL-C.\n"
        "This is a development server. Do not use it in production: run uvicorn main:app.\n"
    )


DJANGO_HINT = "gunicorn mysite.wsgi or uvicorn mysite.asgi:application"


@pytest.mark.parametrize(
    ("description", "interface", "framework", "expected"),
    [
        ("main:app", "asgi3", "FastAPI 0.115.0", "uvicorn main:app"),
        ("app:app", "wsgi", "Flask 3.1.0", "gunicorn app:app"),
        ("mysite.wsgi:application", "wsgi", "Django 5.2", DJANGO_HINT),
        ("mysite.asgi:application", "asgi3", "Django 5.2", DJANGO_HINT),
    ],
)
def test_production_hint_names_a_command_that_works(description, interface, framework,
                                                     expected):
    text = banner(app_description=description, interface=interface, framework=framework)
    assert f"Do not use it in production: run {expected}.\n" in text


def test_production_hint_for_a_file_inside_packages(tmp_path):
    package = tmp_path / "src" / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text("")
    text = banner(app_description=f"{package / 'main.py'}:app")
    assert "run uvicorn shop.main:app." in text
    assert "run uvicorn 'create_app()'" not in banner(app_description="m:create_app",
                                                      factory=True)
    assert "run uvicorn m:create_app --factory." in banner(app_description="m:create_app",
                                                           factory=True)


def test_banner_framework_notes_discovery_and_keys():
    text = banner(framework="FastAPI 0.115.0", notes=["API docs at {url}/docs"],
                  found="Found main:app in main.py; pin it with: asyncdev main:app", keys=True,
                  reload=True)
    assert "Using FastAPI 0.115.0\nAPI docs at http://127.0.0.1:8000/docs\n" in text
    assert "Found main:app in main.py; pin it with: asyncdev main:app\n" in text
    assert "Press h for help, r to reload, o to open the browser" in text
    assert "Press h" not in banner()
    assert "Press h for help, o to open the browser, c to clear" in banner(keys=True)


def test_banner_on_all_interfaces_is_loud_and_shows_the_lan_url():
    text = banner(urls=["http://127.0.0.1:8000"], bound_all_interfaces=True,
                  lan_url="http://192.168.1.20:8000/", interface="wsgi")
    assert "(WSGI)" in text
    assert "anyone on your network can reach this server at http://192.168.1.20:8000/" in text
    assert "!!" in text
    assert "anyone on your network" not in banner()


def test_banner_without_a_lan_address_still_warns():
    text = banner(bound_all_interfaces=True, lan_url=None)
    assert "anyone on your network can reach this server" in text


def test_banner_reload_line_and_several_urls():
    text = banner(reload=True, reload_dirs=["/src/app"],
                  urls=["http://127.0.0.1:8000", "http://[::1]:8000"])
    assert "Watching for file changes in /src/app\n" in text
    assert "at http://127.0.0.1:8000/ and http://[::1]:8000/\n" in text


def test_banner_for_the_welcome_page():
    text = banner(app_description="welcome page")
    assert "the welcome page (no app found; the page says where it looked)" in text
    assert "run your app with uvicorn, gunicorn or granian" in text


def test_banner_colour():
    assert ESC in banner(colour=True)
    assert ESC not in banner(colour=False)


def test_print_banner_finds_the_lan_url(monkeypatch):
    monkeypatch.setattr(_banner, "lan_address", lambda: "10.1.2.3")
    out = io.StringIO()
    _banner.print_banner(
        version="1", app_description="main:app", interface="asgi3", loop_name="asyncio",
        urls=["http://127.0.0.1:9000"], reload=False, bound_all_interfaces=True, port=9000,
        colour=False, stream=out,
    )
    assert "at http://10.1.2.3:9000/." in out.getvalue()


def test_lan_address_is_not_loopback():
    address = lan_address()
    assert address is None or not address.startswith("127.")


# --- event loops ------------------------------------------------------------------------


def test_loop_choice(monkeypatch):
    from asyncdev import _loops

    loop, name = _loops.new_event_loop("asyncio")
    loop.close()
    assert name == "asyncio"
    if pytest.importorskip("uvloop"):
        loop, name = _loops.new_event_loop("auto")
        assert name == "uvloop"
        assert type(loop).__module__.startswith("uvloop")
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    loop, name = _loops.new_event_loop("auto")
    loop.close()
    assert name == "asyncio"
    with pytest.raises(ConfigError, match="pip install uvloop"):
        _loops.new_event_loop("uvloop")


def test_tracebacks_escape_control_characters_but_keep_their_layout():
    import io
    import logging as std_logging

    from asyncdev._logging import DefaultFormatter

    stream = io.StringIO()
    handler = std_logging.StreamHandler(stream)
    handler.setFormatter(DefaultFormatter())
    logger = std_logging.getLogger("asyncdev.test-escape")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise KeyError("/path\x1b[2Jwith-escape")
        except KeyError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\\x1b[2J" in text
    assert "Traceback (most recent call last):\n" in text
