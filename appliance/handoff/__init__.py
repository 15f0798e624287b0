"""Handing a caller to a person: availability, and the context package the person receives."""
