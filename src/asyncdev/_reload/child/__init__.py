"""A reload server process, split by job; this package itself imports nothing.

``main`` is what the supervisor starts (the spare, then the server); ``session`` is the
control channel and lifeline (light: the entry points import it to ask whether they run
in such a process); ``interpreter`` re-runs the user's command line as Python would;
``serving`` serves the app, or the error page when it cannot start.
"""
