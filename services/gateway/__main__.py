import uvicorn

from services.gateway.app import create_app
from services.runtime.gc_tuning import tune_gc
from services.runtime.logs import uvicorn_log_options
from services.runtime.service import settings_with_logging

settings = settings_with_logging()
app = create_app(settings)
tune_gc()
uvicorn.run(
    app,
    host=settings.http_host,
    port=settings.http_port,
    **uvicorn_log_options(settings.log_level),
)
