"""The WSGI entry point gunicorn serves: `microservices.notifications.wsgi:app`."""

from microservices.notifications.app import create_app

app = create_app()
