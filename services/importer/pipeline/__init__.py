"""The pipeline: leads a workspace already has in its CRM, stored per workspace and imported into campaigns.

`domain` (which items are stored as which rows, the name and selection of an import: pure), `queries`
(a filter or a selection as SQL), `repository` (the table) and `handlers` (the commands and the
`pipeline` import source). Every query is scoped by `workspace_id`, including the import source: an id
of another workspace's lead simply matches nothing.
"""
