"""The shop as HTTP microservices: one folder per service, each its own Flask app,
gunicorn process and database. Services import only `shop`, `plumbing` and
`microservices.common` - never each other - and meet only over HTTP (contract/internal.yaml).
"""
