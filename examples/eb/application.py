"""The WSGI entry point for the platform's default start command (WSGIPath application:application).

Not needed with the Procfile (``gunicorn --paste production.ini``); keep one of the two.
"""

from __future__ import annotations

from pathlib import Path

from pyramid.paster import get_app, setup_logging

CONFIG = str(Path(__file__).resolve().parent / "production.ini")

setup_logging(CONFIG)
application = get_app(CONFIG, "main")
