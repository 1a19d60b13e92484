"""The constants and the prose definitions every part of the report shares, and the metrics' error.

The definitions of the metrics themselves are declared with them in :mod:`mom_bench.report.metrics.registry`;
:func:`mom_bench.report.metrics.registry.definitions` puts them between :data:`LEADING_DEFINITIONS` and
:data:`TRAILING_DEFINITIONS` (the order of ``definitions`` in results.json).
"""
from __future__ import annotations

import math

from mom_bench.core.errors import MetricsError as MetricsError  # raised by every part of the report
from mom_bench.core.splits import SPLITS, VALIDATION

SCHEMA_VERSION = 1
CI_LEVEL = 0.95

#: Order in which splits are reported; unknown split names follow, sorted.
SPLIT_ORDER = SPLITS

#: Duration strata of SONICS (seconds): (name, lower bound exclusive, upper bound inclusive).
DURATION_BUCKETS = (("<=60s", -math.inf, 60.0), ("60-120s", 60.0, 120.0), (">120s", 120.0, math.inf))

#: False-positive budgets at which TPR is read off the ROC curve (``tpr_at_fpr``).
FPR_TARGETS = (0.05, 0.01, 0.001)
#: Equal-mass bins of the expected calibration error and of the reliability diagram.
ECE_BINS = 15
#: The split thresholds are chosen on by :func:`frozen_thresholds` in ``mom-bench evaluate``.
CALIBRATION_SPLIT = VALIDATION
#: The thresholds :func:`frozen_thresholds` chooses: name -> false-positive budget (None: F1-optimal).
FROZEN_RULES = {"max_f1": None, "fpr_5pct": 0.05, "fpr_1pct": 0.01}

#: The definition of ``per_decoder_family``, added to a report's definitions only when it has that block (a
#: report scored without decoder families keeps the definitions it always had).
DECODER_FAMILY_DEFINITION = (
    "the fakes of every generator of one decoder family in the split, pooled, against all the split's reals: "
    "tpr is the share of them called fake (its interval sums the per-generator bootstrap counts), auc the ROC "
    "AUC of those fakes against the reals (rows resampled within each (label, generator) stratum). A generator's "
    "family comes from the build's protocol; 'unspecified' where the protocol names none")

#: The definition of ``per_real_pool``, added to a report's definitions only when it has that block (predictions
#: with a ``source`` column; a report without one keeps the definitions it always had).
REAL_POOL_DEFINITION = (
    "all the fakes of a split against the reals of one pool (the reals' source column: in a build, the id of "
    "the protocol's reals entry they came from; '_unknown': reals without one), for each split with both "
    "classes: auc is the ROC AUC of those fakes against that pool's reals (rows resampled within each (label, "
    "generator) stratum, from a generator of its own), fpr the share of the pool's reals called fake at the "
    "threshold (the same number and interval as false_positive_rates' by_source). One pool of human music can "
    "be much harder than another, so the lowest AUC over the pools is the number to look at")

#: The report's definitions before those of the metrics (what a score and a decision are).
LEADING_DEFINITIONS = {
    "positive_class": "fake (label 1); scores are P(fake)",
    "decision": "an item is called fake when score >= threshold",
}

#: The report's definitions after those of the metrics (the blocks built on them).
TRAILING_DEFINITIONS = {
    "per_generator.tpr": "share of generator g's fakes in the split called fake",
    "per_generator.f1": "F1 on {fakes of generator g in the split} U {all reals of the split}: how well g's "
                        "fakes are told apart from the split's real songs, false positives included",
    "strata": "the same threshold metrics on the subset of the split's rows in the stratum; duration buckets "
              "use duration_s (<=60 s, 60-120 s, >120 s)",
    "id_ood_gap": "F1(test_id) - F1(test_ood); its CI comes from the difference of independent bootstrap "
                  "draws of the two splits",
    "ci": "95 % percentile bootstrap interval, stratified by (label, generator), seeded, reported as "
          "computed: on tiny samples a skewed statistic's interval may not contain its point estimate, which "
          "says how unstable it is. Resamples are drawn from the rows in a fixed order (sorted by id within "
          "each split), so the same predictions in any row order give the same intervals. A rate observed as "
          "exactly 0 or 1 (e.g. TPR 1.0 on 9 fakes) gets a zero-width interval: the bootstrap cannot see beyond "
          "the sample, so read such intervals with the sample size in mind",
    "null": "a metric is null (with a 'reason') when it is undefined on the data, e.g. AUC on a split "
            "with no reals",
    "tpr_at_fpr": "TPR at a target false-positive rate t (5 %, 1 %, 0.1 %) read off the split's ROC curve (the "
                  "points of every distinct score): TPR is linearly interpolated between the two ROC points that "
                  "straddle t (the last with FPR <= t and the next one); where the curve rises vertically at FPR "
                  "= t the highest TPR there is taken. This is np.interp(t, fpr, tpr) on the curve. resolvable is "
                  "false when the split has fewer than 1 / t reals (20 for 5 %, 100 for 1 %, 1,000 for 0.1 %): one "
                  "real called fake is then already more than t, and the value is reported but rests on the "
                  "interpolation. The CI resamples rows as for AUC",
    "ece": "expected calibration error with 15 equal-mass bins: the split's rows sorted by score (ties in id "
           "order), cut into 15 bins of equal count (np.array_split of the sorted order: the first n mod 15 bins "
           "hold one row more; with fewer than 15 rows the empty bins are skipped); ECE = sum_b (n_b / N) "
           "|mean(label_b) - mean(score_b)|. The CI resamples rows as for AUC and bins each resample the same way",
    "brier": "Brier score: mean over the split's rows of (score - label)^2; 0 is perfect, 0.25 is a constant "
             "0.5. The CI resamples rows as for AUC",
    "false_positive_rates": "the share of a split's reals called fake at the report's threshold: all reals "
                            "(1 - specificity, the same interval), per value of the reals' source column where the "
                            "predictions have one, and per stratum bucket of the reals (duration, vocals, "
                            "language); CIs are binomial bootstraps of the count called fake, as for the other "
                            "confusion-count rates",
    "frozen_thresholds": "thresholds chosen on the calibration split (validation) alone and then applied "
                         "unchanged to every test split: max_f1 is the score threshold with the highest F1 on "
                         "calibration; fpr_5pct and fpr_1pct are the thresholds with the highest calibration TPR "
                         "among those with calibration FPR <= 5 % / 1 %; ties go to the higher threshold. The "
                         "candidates are the calibration scores themselves (called fake when score >= "
                         "threshold) and, for calling nothing fake, the smallest float above the highest one. "
                         "resolvable is false when the calibration split has fewer than 1 / budget reals. Test "
                         "intervals treat the threshold as fixed (binomial bootstrap of the test counts), so they "
                         "leave out the uncertainty of the choice itself",
}

_REQUIRED = ("id", "split", "generator", "label", "score")


