"""The WSGI entry point gunicorn serves: `microservices.invoices.wsgi:app`."""

from microservices.invoices.app import create_app

app = create_app()
