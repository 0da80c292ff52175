from services.runtime.migrations import run_env
from services.validator.tables import SCHEMA, metadata

run_env(SCHEMA, metadata)
