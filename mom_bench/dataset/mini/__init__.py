"""mom-mini: the small offline benchmark built by ``mom-bench build`` by default.

- :mod:`mom_bench.dataset.mini.excerpts`: the shipped real-music excerpts and their attribution.
- :mod:`mom_bench.dataset.mini.families`, :mod:`mom_bench.dataset.mini.neural`: the offline generator families
  (signal models, and neural decoders from :mod:`mom_bench.dataset.mini.decoders` with shipped weights).
- :mod:`mom_bench.dataset.mini.dsp`: mel front end and the common finishing step every clip goes through.
- its source, ``MomMiniSource`` (``source.kind: mom-mini``), is :mod:`mom_bench.dataset.sources.mom_mini`.

The data card is ``data_cards/mom-mini.md``.
"""
