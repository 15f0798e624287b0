"""Audio at the edges: WAV files, resampling, 20 ms frames, the playout buffer."""
