"""The `mom-bench` command line: a thin layer that parses, calls the library (:mod:`mom_bench`) and prints.

One module per command (or command group); :mod:`.app` holds the click group and the error handling,
:mod:`.options` the options several commands share, :mod:`.output` the table/CSV/JSON printing. Commands
import the library inside their function, so `mom-bench --help` loads neither torch nor scikit-learn.

Exit status: 0 done; 1 the command ran and found problems (unusable files, failed checks) or an internal
error (a bug: ``internal error: <type>: <message>``); 2 a usage error or a :class:`~mom_bench.core.errors
.MomBenchError` (``error: <message>``, something the user can fix). ``--debug`` shows tracebacks instead.
"""
from __future__ import annotations

from mom_bench.cli import (
    build,
    evaluate,
    extract,
    fold,
    import_sonics,
    info,
    inspect,
    leaderboard,
    matrix,
    models,
    predict,
    push,
    push_dataset,
    submit,
    train,
    weights,
)
from mom_bench.cli.app import InternalError, UserError, main

__all__ = ["main", "UserError", "InternalError"]

# `mom-bench --help` lists them alphabetically whatever the order here.
for _command in (info.info, inspect.inspect, build.build, fold.fold_cmd, submit.submit_cmd,
                 leaderboard.leaderboard_group, models.models_cmd, train.train_cmd, extract.extract_cmd,
                 evaluate.evaluate_cmd, matrix.matrix_cmd, predict.predict_cmd, weights.weights_group,
                 import_sonics.import_sonics_cmd, push.push_cmd, push_dataset.push_dataset_cmd):
    main.add_command(_command)
