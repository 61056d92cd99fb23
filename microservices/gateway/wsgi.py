"""The WSGI entry point gunicorn serves: `microservices.gateway.wsgi:app`."""

from microservices.gateway.app import create_app

app = create_app()
