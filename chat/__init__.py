"""Conversations, the web chat and reply streaming."""
