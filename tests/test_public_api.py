"""The public API: `import mom_bench as mb` is cheap, names what the README lists, and the README's
Python example runs the whole job with a detector defined in the example itself."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
API = ["build_benchmark", "train", "evaluate", "extract", "predict", "predict_iter", "compute_report", "load_detector",
       "list_models", "check_detector", "make_fold", "make_folds", "predict_timeline", "timeline_for_build",
       "write_timeline"]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- python-api:begin -->", 1)[1].split("<!-- python-api:end -->", 1)[0]
    return re.search(r"```python\n(.*?)```", block, flags=re.S).group(1)


def test_import_is_lazy_and_names_the_api():
    code = ("import sys, mom_bench as mb\n"
            "assert 'torch' not in sys.modules, 'import mom_bench must not import torch'\n"
            f"names = {API!r}\n"
            "assert all(callable(getattr(mb, n)) for n in names)\n"
            "import mom_bench.loop.training, mom_bench.loop.evaluation, mom_bench.loop.prediction\n"
            "assert callable(mb.train) and callable(mb.evaluate) and callable(mb.predict)\n"
            "print(mb.__version__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from importlib.metadata import version

    assert out.stdout.strip() == version("mom-bench")


def test_readme_example_is_five_lines():
    assert len(readme_example().strip().splitlines()) == 5


@pytest.mark.slow
def test_readme_example_runs_the_whole_job_with_its_own_detector(tmp_path, mini_build):
    from tests.conftest import seed_home

    home = tmp_path / "home"
    seed_home(home, mini_build)  # its build_benchmark("mom-mini") finds it up to date
    env = {**os.environ, "MOM_BENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", readme_example()], capture_output=True, text=True, timeout=900,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test_ood" in out.stdout and "ID-OOD gap" in out.stdout and "evaluated configuration: Loudness" in out.stdout
    results = home / "runs" / "mom-mini" / "Loudness" / "results"
    import json

    doc = json.loads((results / "results.json").read_text())
    assert doc["model"]["name"] == "Loudness" and doc["model"]["config"]["class"] == "__main__:Loudness"
    assert doc["benchmark"]["splits"] == ["test_id", "test_ood"]
    n = sum(s["n"] for s in doc["metrics"]["splits"].values())
    assert n == len((results / "predictions.csv").read_text().splitlines()) - 1 > 0
