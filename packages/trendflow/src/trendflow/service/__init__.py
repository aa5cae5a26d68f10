"""``trendflow serve``: the analysis service (job API, job records, Temporal workers).

Layers, in the data's way: ``schemas`` (the HTTP contract) → ``app`` (FastAPI routes) →
``jobs`` (submit and read jobs; no FastAPI, no Temporal) → ``repository`` (SQL on the ``jobs``
tables of ``db``); ``workflows`` and ``activities`` (Temporal) → ``runner`` (download the media,
run the DataProcessor, summarise its NPZ artifacts) → ``media``, ``summary``, ``webhook``.
"""
