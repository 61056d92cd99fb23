"""The WSGI entry point gunicorn serves: `microservices.orders.wsgi:app`."""

from microservices.orders.app import create_app

app = create_app()
