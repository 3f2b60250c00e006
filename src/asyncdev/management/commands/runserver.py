"""``python manage.py runserver`` served by asyncdev, when "asyncdev" is in INSTALLED_APPS.

Django's own arguments keep their meaning (``addrport``, ``-6``, ``--noreload``,
``--nothreading`` accepted, ``--skip-checks``, and staticfiles' ``--nostatic`` and
``--insecure``), plus asyncdev's options that make sense here. Reloads go through
asyncdev's supervisor, which runs this command again in each fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Literal

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.core.management.commands.runserver import Command as DjangoRunserver

from ..._cli import OPTIONS, add_option
from ..._config import Config
from ..._errors import AsyncdevError

# asyncdev's options offered by runserver; the others (the app, the address, reload
# on/off, colours) are Django's own arguments here.
_ASYNCDEV_OPTIONS = (
    "https", "ssl_certfile", "ssl_keyfile", "ssl_keyfile_password", "browser_reload",
    "allowed_hosts", "static", "reload_dirs", "reload_includes", "reload_excludes",
    "reload_delay", "log_level", "access_log", "loop", "threads", "debug_errors",
    "proxy_headers", "forwarded_allow_ips", "timeout_graceful_shutdown", "ws",
    "limit_concurrency", "limit_request_body",
)


class Command(DjangoRunserver):
    help = (
        "Starts the asyncdev development server: ASGI and WSGI, instant reload, "
        "static files, WebSockets."
    )
    # Checks run in the serving process at every start instead (as runserver does).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--nostatic", action="store_false", dest="use_static_handler",
            help="Do not serve static files at STATIC_URL.",
        )
        with contextlib.suppress(argparse.ArgumentError):
            # Django before 5.0 declares it on runserver itself.
            parser.add_argument(
                "--skip-checks", action="store_true",
                help="Do not run the system checks when each server process starts.",
            )
        parser.add_argument(
            "--insecure", action="store_true", dest="insecure_serving",
            help="Serve static files even if DEBUG is False.",
        )
        group = parser.add_argument_group("asyncdev")
        for option in OPTIONS:
            if option.field in _ASYNCDEV_OPTIONS:
                add_option(group, option)

    def run(self, **options: Any) -> None:
        from ..._api import run

        try:
            config = self.asyncdev_config(options)
        except AsyncdevError as exc:
            raise CommandError(str(exc)) from None
        if config.reload and "--noreload" not in sys.orig_argv:
            # Each server process runs this command again. With --noreload, Django's
            # ManagementUtility lets an error in django.setup() surface (it would
            # otherwise hide it and fall back to Django's own runserver), so the
            # process shows it on the error page and the supervisor keeps watching.
            sys.orig_argv = [*sys.orig_argv, "--noreload"]
        try:
            code = run(config)
        except AsyncdevError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            # Ctrl+C before the server took the signal over (during start-up): as
            # runserver, a clean exit.
            code = 0
        if code:
            raise SystemExit(code)

    def asyncdev_config(self, options: dict[str, Any]) -> Config:
        """The Config this command line asks for."""
        host = "0.0.0.0" if self.addr == "0" else self.addr
        static: Literal["auto", "on", "off"]
        if options.get("insecure_serving"):
            static = "on"
        elif not options.get("use_static_handler", True):
            static = "off"
        else:
            static = "auto"
        values = {
            option.field: options[option.field] for option in OPTIONS
            if option.field in _ASYNCDEV_OPTIONS and option.field in options
        }
        for name in ("allowed_hosts", "static", "reload_dirs", "reload_includes",
                     "reload_excludes"):
            if name in values:
                values[name] = tuple(values[name])
        if "forwarded_allow_ips" in values:
            values["forwarded_allow_ips"] = tuple(
                ip for group in values["forwarded_allow_ips"] for ip in group
            )
        return Config(
            host=host,
            port=int(self.port),
            reload=_reloading(options["use_reloader"]),
            django_settings=settings.SETTINGS_MODULE,
            django_static=static,
            django_checks=not options.get("skip_checks", False),
            **values,
        )


def _reloading(use_reloader: bool) -> bool:
    if os.environ.get("RUN_MAIN") == "true":
        return False  # already a child of Django's own autoreloader
    from ..._reload.child.session import in_reload_child

    if in_reload_child():
        return True  # a server process of our supervisor (which added --noreload)
    return use_reloader
