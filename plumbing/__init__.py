"""Runtime plumbing shared by both architectures: the database pool, the gunicorn
configuration and the JSON error handling.

Both the monolith and every microservice import this package, so each web process of
either architecture runs the same pool code, server configuration, error format and
access log. Per process that is equal; per stack it is not: the microservices run more
processes, and so more workers, threads, pool connections and log lines per request
(each report's "What was held equal, and what was not" table counts them).
"""
