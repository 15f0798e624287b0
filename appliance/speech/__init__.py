"""Hearing and speaking: voice activity, speech-to-text, text-to-speech."""
