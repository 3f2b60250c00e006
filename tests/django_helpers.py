"""Real Django projects for the Django tests: ``django-admin startproject`` plus a small app.

``make_project(path)`` writes a fresh project with "asyncdev" first in INSTALLED_APPS
and an app ``shop`` (a template view, an upload view, app static files), plus
STATICFILES_DIRS; ``migrate(path)`` applies the migrations and creates a superuser.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

from reload_helpers import SRC

ADMIN_PASSWORD = "correct horse battery staple"

SHOP_VIEWS = '''\
from django.http import HttpResponse
from django.shortcuts import render


def page(request):
    return render(request, "shop/page.html", {"pid": __import__("os").getpid()})


def hello(request):
    from django.utils.translation import gettext

    return HttpResponse(gettext("Hello"))


def upload(request):
    data = request.FILES["file"].read()
    return HttpResponse(f"{len(data)} bytes, starts {data[:5].decode()}")
'''

SHOP_CONSUMER = '''\
from channels.generic.websocket import WebsocketConsumer


class Echo(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data="echo: " + text_data)
'''

CHANNELS_ASGI = '''\
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from shop.consumers import Echo  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi,
    "websocket": URLRouter([path("ws/echo/", Echo.as_asgi())]),
})
'''


def env(**extra: str) -> dict[str, str]:
    environ = dict(os.environ)
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    environ["PYTHONPATH"] = SRC + os.pathsep + environ.get("PYTHONPATH", "")
    environ["PYTHONUNBUFFERED"] = "1"
    environ["NO_COLOR"] = "1"
    environ.update(extra)
    return environ


def manage(project: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=project, env=env(**extra_env),
        capture_output=True, text=True, timeout=120, check=True,
    )


def make_project(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(project)],
        env=env(), check=True, timeout=60,
    )
    settings = project / "mysite" / "settings.py"
    text = settings.read_text()
    text = re.sub(r"INSTALLED_APPS = \[", 'INSTALLED_APPS = [\n    "asyncdev",\n    "shop",',
                  text, count=1)
    text += '\nSTATICFILES_DIRS = [BASE_DIR / "assets"]\n'
    settings.write_text(text)
    shop = project / "shop"
    (shop / "templates" / "shop").mkdir(parents=True)
    (shop / "static" / "shop").mkdir(parents=True)
    (shop / "__init__.py").write_text("")
    (shop / "models.py").write_text("from django.db import models  # noqa: F401\n")
    (shop / "views.py").write_text(SHOP_VIEWS)
    (shop / "consumers.py").write_text(SHOP_CONSUMER)
    (shop / "templates" / "shop" / "page.html").write_text("<p>Version 1 from {{ pid }}</p>\n")
    (shop / "static" / "shop" / "site.css").write_text("body { color: rebeccapurple; }\n")
    (project / "assets").mkdir()
    (project / "assets" / "hello.txt").write_text("hello from STATICFILES_DIRS\n")
    urls = project / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace(
        "urlpatterns = [",
        "from shop import views\n\nurlpatterns = [\n"
        '    path("page/", views.page),\n    path("upload/", views.upload),\n'
        '    path("hello/", views.hello),',
    ))


def mo_file(messages: dict[str, str]) -> bytes:
    """A GNU gettext catalog (``.mo``) translating ``messages``, with a UTF-8 header."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **messages}.items())
    count = len(entries)
    originals_at = 28
    translations_at = originals_at + 8 * count
    data_at = translations_at + 8 * count
    table_o: list[int] = []
    table_t: list[int] = []
    data = b""
    for original, _ in entries:
        encoded = original.encode()
        table_o += [len(encoded), data_at + len(data)]
        data += encoded + b"\0"
    for _, translation in entries:
        encoded = translation.encode()
        table_t += [len(encoded), data_at + len(data)]
        data += encoded + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, 0)
    return header + struct.pack(f"<{4 * count}I", *table_o, *table_t) + data


def use_french(project: Path, hello: str) -> Path:
    """LANGUAGE_CODE "fr" with a catalog in LOCALE_PATHS translating "Hello"; its path."""
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace("LANGUAGE_CODE = 'en-us'", "")
                        .replace('LANGUAGE_CODE = "en-us"', "")
                        + '\nLANGUAGE_CODE = "fr"\nLOCALE_PATHS = [BASE_DIR / "locale"]\n')
    catalog = project / "locale" / "fr" / "LC_MESSAGES" / "django.mo"
    catalog.parent.mkdir(parents=True)
    catalog.write_bytes(mo_file({"Hello": hello}))
    return catalog


def migrate(project: Path) -> None:
    manage(project, "migrate", "--noinput")
    manage(project, "createsuperuser", "--noinput", "--username", "admin",
           "--email", "admin@example.com", DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD)


def use_channels(project: Path) -> None:
    (project / "mysite" / "asgi.py").write_text(CHANNELS_ASGI)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nASGI_APPLICATION = "mysite.asgi.application"\n')
