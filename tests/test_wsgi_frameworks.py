"""Flask and Django (WSGI and ASGI entry points) served for real, found by --interface auto."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from asyncdev._config import Config
from asyncdev._importer import detect_interface, load_app
from asyncdev.testing import run_in_thread
from wsgi_helpers import PROJECTS, WAIT

UPLOAD = os.urandom(5 * 1024 * 1024 + 123)
UPLOAD_SHA = hashlib.sha256(UPLOAD).hexdigest()


def loaded(target: str):
    return load_app(Config(app=target, app_dir=str(PROJECTS)))


# --- interface detection ---------------------------------------------------------------


def test_auto_interface_tells_wsgi_from_asgi():
    assert loaded("flaskapp:app").interface == "wsgi"
    assert loaded("djproject.wsgi:application").interface == "wsgi"
    assert loaded("djproject.asgi:application").interface == "asgi3"
    # Django's own docs spell the module only; "application" is found.
    assert loaded("djproject.wsgi").interface == "wsgi"


def test_auto_interface_sees_through_wsgi_middleware_and_plain_functions():
    from werkzeug.middleware.proxy_fix import ProxyFix

    flask_app = loaded("flaskapp:app").app

    def plain(environ, start_response):
        return []

    assert detect_interface(ProxyFix(flask_app.wsgi_app)) == "wsgi"
    assert detect_interface(flask_app.wsgi_app) == "wsgi"
    assert detect_interface(plain) == "wsgi"


# --- Flask -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flask_client():
    with run_in_thread("flaskapp:app", app_dir=str(PROJECTS)) as server, \
            httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert server.server.loaded.interface == "wsgi"
        yield client


def test_flask_get_form_and_json(flask_client):
    assert flask_client.get("/").text == "hello from flask"
    assert flask_client.post("/form", data={"name": "ada"}).text == "name=ada"
    assert flask_client.post("/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}


def test_flask_multipart_upload_of_several_mib(flask_client):
    response = flask_client.post("/upload", files={"file": ("blob.bin", UPLOAD)},
                                 data={"note": "n"})
    assert response.json() == {"name": "blob.bin", "size": len(UPLOAD), "sha256": UPLOAD_SHA,
                               "note": "n"}


def test_flask_reads_a_chunked_upload_fully(flask_client):
    def pieces():
        for i in range(0, len(UPLOAD), 300_000):
            yield UPLOAD[i:i + 300_000]

    response = flask_client.post("/raw", content=pieces())
    assert response.request.headers["transfer-encoding"] == "chunked"
    # werkzeug returns an empty body here unless the server sets wsgi.input_terminated.
    assert response.json() == {"size": len(UPLOAD), "sha256": UPLOAD_SHA,
                               "content_length": None}


def test_flask_streamed_response(flask_client):
    with flask_client.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        text = "".join(response.iter_text())
    assert text == "".join(f"line {i}\n" for i in range(200))


def test_flask_exception_is_a_500_and_serving_goes_on(flask_client):
    assert flask_client.get("/boom").status_code == 500
    assert flask_client.get("/").status_code == 200


# --- Django, both entry points ---------------------------------------------------------


@pytest.fixture(scope="module", params=["wsgi", "asgi"])
def django_client(request):
    with run_in_thread(f"djproject.{request.param}:application", app_dir=str(PROJECTS)) as server, \
            httpx.Client(base_url=server.url, timeout=WAIT) as client:
        expected = {"wsgi": "wsgi", "asgi": "asgi3"}[request.param]
        assert server.server.loaded.interface == expected
        yield client


def test_django_get_form_and_json(django_client):
    assert django_client.get("/").text == "hello from django GET /"
    assert django_client.post("/form", data={"name": "ada"}).text == "name=ada"
    assert django_client.post("/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}


def test_django_multipart_upload_of_several_mib(django_client):
    response = django_client.post("/upload", files={"file": ("blob.bin", UPLOAD)},
                                  data={"note": "n"})
    assert response.json() == {"name": "blob.bin", "size": len(UPLOAD), "sha256": UPLOAD_SHA,
                               "note": "n"}


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_django_streamed_response(django_client):
    with django_client.stream("GET", "/stream") as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert text == "".join(f"line {i}\n" for i in range(200))


def test_django_exception_is_a_500_and_serving_goes_on(django_client):
    assert django_client.get("/boom").status_code == 500
    assert django_client.get("/").status_code == 200
