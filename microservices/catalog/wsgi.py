"""The WSGI entry point gunicorn serves: `microservices.catalog.wsgi:app`."""

from microservices.catalog.app import create_app

app = create_app()
