from services.runtime.migrations import run_env
from services.sequencer.tables import SCHEMA, metadata

run_env(SCHEMA, metadata)
