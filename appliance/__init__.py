"""On-premise voice agent appliance."""

__version__ = "0.1.0"
