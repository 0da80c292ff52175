from services.inbox.app import create_service
from services.runtime.service import run_service

run_service(create_service)
