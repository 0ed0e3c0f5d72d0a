"""Pydantic shapes of the API: ``*In`` for what clients send, ``*Out`` for what they get."""
