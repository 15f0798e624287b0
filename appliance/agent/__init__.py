"""The agent's turn: what to say back, streamed sentence by sentence."""
