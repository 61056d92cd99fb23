"""The WSGI entry point gunicorn serves: `microservices.accounts.wsgi:app`."""

from microservices.accounts.app import create_app

app = create_app()
