"""A minimal Django project (settings, urls, one view, WSGI and ASGI) without a database."""
