"""The WSGI entry point gunicorn serves: `microservices.payments.wsgi:app`."""

from microservices.payments.app import create_app

app = create_app()
