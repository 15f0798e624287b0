"""A call: its typed events, the bus that carries them, and the voice loop."""
