"""The loop zone (layer 4 of docs/architecture.md): the benchmark loop over an opened build and a detector -
scoring (:mod:`.inference`), training (:mod:`.training`, one feed per family in :mod:`.feeds`), run folders
(:mod:`.runs`), ``evaluate``, the robustness suite, ``predict`` and ``extract``."""
