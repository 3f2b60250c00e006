"""A minimal Django project (no database) served through both entry points in tests."""
