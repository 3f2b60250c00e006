"""Trivial Flask app for the reload benchmark (``flask run``); ``MARKER`` is rewritten.

A copy lives in a temporary directory during the run; this file is only the template.
"""

from __future__ import annotations

from flask import Flask

MARKER = "edit-0"

app = Flask(__name__)


@app.get("/")
def index() -> str:
    return "reload-app " + MARKER
