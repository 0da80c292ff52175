"""The unsubscribe link of every message sent (`/u/{token}`): a confirmation page, and the one-click POST."""
