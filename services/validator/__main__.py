from services.runtime.service import run_service
from services.validator.app import create_service

run_service(create_service)
