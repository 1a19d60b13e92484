"""The report zone (layer 1 of docs/architecture.md): every metric, declared once in :mod:`.metrics.registry`,
the typed documents mom-bench writes and their generated schema, the figures, and what ``info`` and
``inspect`` report. It reads predictions, never models or datasets."""
