import uvicorn

from services.gateway.app import create_app
from services.runtime.logs import configure_logging
from services.runtime.settings import Settings

settings = Settings()
configure_logging(settings.log_level, settings.log_json)
uvicorn.run(
    create_app(settings),
    host=settings.http_host,
    port=settings.http_port,
    log_level="warning",
    log_config=None,
)
