"""Segmenter: decoding, per-component sampling, union frames, audio windows, shot boundaries."""
