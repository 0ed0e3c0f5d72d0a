"""HTTP API (FastAPI): firms, policies, verdicts, runs; API keys with roles.

``create_app(settings)`` builds an application; nothing is created at import time.
"""

from api.app import create_app
from api.settings import Settings

__all__ = ["Settings", "create_app"]
