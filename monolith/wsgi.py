"""The WSGI entry point gunicorn serves: `monolith.wsgi:app`."""

from monolith.web.app import create_app

app = create_app()
