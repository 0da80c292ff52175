"""The `lead_view` read model: every lead of every campaign as the leads table shows it.

It consumes every event of the stream, and applies each to the lead's status with the contracts' status
fold, so the table converges to the same status whatever order events arrive in (`consumer`). A second
consumer takes only the imports' events, so a backlog of verdicts never delays listing a new import
(`imports`). `lead_events`, `manual_changes` and `removals` change the rows, `timeline` records what
happened to each lead, and `notifications` tells the open tables.
"""
