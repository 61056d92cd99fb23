"""The WSGI entry point gunicorn serves: `microservices.inventory.wsgi:app`."""

from microservices.inventory.app import create_app

app = create_app()
