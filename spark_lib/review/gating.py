"""Labels that gate: a newly trained model (the *challenger*) becomes champion only if it is at least as good
as the champion on the labelled pairs, and on the ground truth where there is one.

The evidence, each scored by both models at the run's clustering threshold (a pair is a predicted match when
its probability reaches it; a pair a model cannot score, a record outside its input, is a non-match):

``labels``
    the latest ``same``/``different`` decision of every reviewed pair (``ops.review_decisions``);
``truth``
    with a ground truth, the labelled pairs and a bounded hash-sample of the last run's scored pairs
    (``silver.match_pairs``: the candidates where models disagree), each answered by the truth. Cheap (two
    scorings of a few thousand listed pairs, never two full matchings), but drawn from the champion's
    candidates: pairs only the challenger would find are missing, which favours the champion (a
    conservative gate).

Figures per model and evidence: pairs, accuracy, precision, recall, F1 (a ratio with a zero denominator is
1.0, as in :mod:`spark_lib.matching.evaluation`). The decision (:func:`decide`):

* no champion yet: the challenger is promoted (``no_champion``);
* ``--promote --reason TEXT``: promoted whatever the figures (``forced``), the reason recorded;
* neither labels nor truth: promoted, as before gating, with that note logged (``no_evidence``): refusing
  every new model until someone reviews would freeze a fresh installation;
* else promoted when its F1 is at least the champion's on every evidence there is (``at_least_as_good``),
  kept as challenger otherwise (``worse``), and the run scores with the champion.

Example::

    challenger = pair_figures(scored_by_challenger, labels, threshold=0.999)
    champion = pair_figures(scored_by_champion, labels, threshold=0.999)
    decision = decide({"labels": challenger}, {"labels": champion})
    decision.promote, decision.outcome, decision.metrics()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_lib.matching.deterministic import require_columns

EVIDENCE = ("labels", "truth")
#: F1 this much lower is still "as good" (float noise only)
TOLERANCE = 1e-12


@dataclass(frozen=True)
class PairFigures:
    """A model's figures on listed pairs whose answer is known."""

    pairs: int
    accuracy: float
    precision: float
    recall: float
    f1: float

    def metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}.{k}": float(v) for k, v in self.__dict__.items()}


def _ratio(numerator: float, denominator: float) -> float:
    return 1.0 if denominator == 0 else numerator / denominator


def pair_figures(scored: DataFrame, answers: DataFrame, threshold: float) -> PairFigures:
    """Accuracy, precision, recall and F1 of ``scored`` (pair_id, match_probability) against ``answers``
    (pair_id, same: boolean) at ``threshold``; a pair without a score is a predicted non-match.

    Example::

        pair_figures(scored, answers, 0.999).f1
    """
    require_columns(scored, ["pair_id", "match_probability"], "scored")
    require_columns(answers, ["pair_id", "same"], "answers")
    if not 0 <= threshold <= 1:
        raise ValueError(f"pair_figures: threshold must be a probability, got {threshold}")
    joined = answers.select("pair_id", "same").join(scored.select("pair_id", "match_probability"), "pair_id", "left")
    predicted = F.coalesce(F.col("match_probability") >= threshold, F.lit(False))
    row = joined.agg(
        F.count("*").alias("n"),
        F.sum((predicted & F.col("same")).cast("long")).alias("tp"),
        F.sum((predicted & ~F.col("same")).cast("long")).alias("fp"),
        F.sum((~predicted & F.col("same")).cast("long")).alias("fn"),
    ).first()
    n, tp, fp, fn = (int(row[k] or 0) for k in ("n", "tp", "fp", "fn"))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return PairFigures(n, _ratio(n - fp - fn, n), precision, recall, f1)


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger becomes champion, why, and the figures compared."""

    promote: bool
    #: no_champion | forced | no_evidence | at_least_as_good | worse
    outcome: str
    reason: str
    challenger: Mapping[str, PairFigures] = field(default_factory=dict)
    champion: Mapping[str, PairFigures] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: ``gate.promoted`` and ``gate.<model>.<evidence>.<figure>`` (no personal value)."""
        values = {"gate.promoted": 1.0 if self.promote else 0.0}
        for who, figures in (("challenger", self.challenger), ("champion", self.champion)):
            for evidence, f in figures.items():
                values.update(f.metrics(f"gate.{who}.{evidence}"))
        return values

    def tags(self) -> dict[str, str]:
        return {"rcu.gate.outcome": self.outcome, "rcu.gate.promoted": str(self.promote).lower(),
                "rcu.gate.reason": self.reason[:5000]}

    def text(self) -> str:
        shown = "; ".join(f"{e}: challenger F1 {self.challenger[e].f1:.4f} vs champion {self.champion[e].f1:.4f} "
                          f"on {self.challenger[e].pairs} pairs" for e in EVIDENCE
                          if e in self.challenger and e in self.champion)
        verdict = "promoted to champion" if self.promote else "kept as challenger: the run scores with the champion"
        return f"challenger {verdict} ({self.outcome}: {self.reason})" + (f"; {shown}" if shown else "")


def decide(challenger: Mapping[str, PairFigures], champion: Mapping[str, PairFigures] | None, *,
           force: bool = False, reason: str | None = None) -> GateDecision:
    """The gate's decision (see the module docstring). ``champion`` None: there is none yet.
    ``force`` needs a ``reason``.

    Example::

        decide({"labels": PairFigures(40, 0.95, 1.0, 0.9, 0.947)}, {"labels": PairFigures(40, 0.9, 1.0, 0.8, 0.889)})
        # GateDecision(promote=True, outcome='at_least_as_good', ...)
    """
    challenger = dict(challenger or {})
    if champion is None:
        return GateDecision(True, "no_champion", "no champion yet: the first model becomes champion", challenger, {})
    champion = dict(champion)
    if force:
        if not reason or not reason.strip():
            raise ValueError("decide: a forced promotion needs a reason (--promote --reason TEXT)")
        return GateDecision(True, "forced", reason.strip(), challenger, champion)
    compared = [e for e in EVIDENCE if e in challenger and e in champion and challenger[e].pairs > 0]
    if not compared:
        return GateDecision(True, "no_evidence", "no labelled pair and no ground truth to compare the models on: "
                            "promoted as before gating", challenger, champion)
    worse = [e for e in compared if challenger[e].f1 < champion[e].f1 - TOLERANCE]
    if worse:
        return GateDecision(False, "worse", f"lower F1 than the champion on {' and '.join(worse)}", challenger, champion)
    return GateDecision(True, "at_least_as_good", f"F1 at least the champion's on {' and '.join(compared)}",
                        challenger, champion)
