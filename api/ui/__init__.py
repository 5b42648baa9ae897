"""The review workspace's browser side: session cookies, CSRF tokens, page helpers."""
