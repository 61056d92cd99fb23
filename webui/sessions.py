"""Signed-cookie sessions for the pages only.

The cart and the login live in Flask's signed session cookie, which the pages need
and the API never uses. API and probe requests skip decoding (and re-signing) the
cookie: measured here, that was a fifth of the cost of a product read.
"""

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface

from plumbing.errors import API_PREFIXES


class PageSessions(SecureCookieSessionInterface):
    """The default session interface, opened only for page requests."""

    def open_session(self, app: Flask, request: Request):
        if request.path.startswith(API_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)
