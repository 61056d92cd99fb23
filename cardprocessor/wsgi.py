"""The WSGI entry point gunicorn serves: `cardprocessor.wsgi:app`."""

from cardprocessor.app import create_app

app = create_app()
