"""``python -m mom_bench``: the ``mom-bench`` command line."""
from mom_bench.cli import main

if __name__ == "__main__":  # importing this module (pytest's doctest collection) must not run the CLI
    main()
