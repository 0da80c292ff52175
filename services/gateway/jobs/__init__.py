"""Bulk actions over a campaign's leads (set a status, remove), run as jobs with progress.

A bulk action can name 100,000 leads, so it is never one blocking request: the request only records a
`jobs` row and answers 202 (`router.py`), and a runner in every gateway process (`runner.py`) works
through running jobs in steps of a few batches of `MAX_BATCH` leads. Each step is one transaction that
applies the change to the gateway's own read model (lead_view, the leads' timelines, live-update
notifications), emits each batch's event for the other services, and moves the job's checkpoint (`done`,
and the last `seq` handled) forward, so a gateway that crashes mid-job resumes on start exactly where it
committed: no batch is applied or sent twice, none is skipped (`queries.py` holds the statements).

The selection is frozen when the request is made: the job remembers the highest `lead_view.seq` that
matched, and only leads at or below it are ever visited, in `seq` order (the list's own keyset). Leads
imported while the job runs are never swept in. The filter itself is evaluated again step by step, so a
lead that stopped matching meanwhile (a reply arrived, say) is left alone rather than overridden.
"""
