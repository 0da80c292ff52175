"""Inbox: syncs sender mailboxes over IMAP and classifies replies, auto-replies and bounce reports.

Owns schema `inbox`; emits ReplyDetected, AutoReplyDetected and EmailBounced(source=dsn).
"""
