import uvicorn

from services.gateway.app import create_app
from services.runtime.logs import uvicorn_log_options
from services.runtime.service import settings_with_logging

settings = settings_with_logging()
uvicorn.run(
    create_app(settings),
    host=settings.http_host,
    port=settings.http_port,
    **uvicorn_log_options(settings.log_level),
)
