"""The workspace suppression list: addresses never to import again (unsubscribed, hard-bounced, manual).

`domain` (what goes on the list, pure), `file` (reading an uploaded list, pure), `repository` (the table)
and `handlers` (the commands and events). The chunk's insert statement (`writer`) checks the list.
"""
