"""Runtime plumbing shared by both architectures: the database pool, the gunicorn
configuration and the JSON error handling.

Both the monolith and every microservice import this package, so the comparison
runs on one pool, one server configuration and one error format.
"""
