"""Plain-text rendering for the terminal (``rcu explain``): aligned tables of a customer's records and links,
and a pair's comparisons and weights. Inputs are the JSON-ready dicts of :func:`explain_customer` and
:func:`explain_records_pair`; nothing here touches Spark.

Example::

    print(format_customer(explain_customer(lake, "C3f9a0c2e71d84b5a6c01", threshold=0.9)))
    print(render(pair, as_json=True))
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Mapping, Sequence

from spark_lib import tables

#: the columns of a customer's records table, in the order shown
RECORD_COLUMNS = ("record_key", "match_rule", "match_probability", "name", "birth_date", "email", "phone_mobile",
                  "postcode", "city", "loyalty_card", "account_id", "cookie_id")


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.3g}" if value and (abs(value) >= 1e5 or abs(value) < 1e-3) else f"{value:.4f}"
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, headers: Mapping[str, str] | None = None,
                 max_width: int = 36, indent: str = "  ") -> str:
    """Rows as an aligned text table; ``(none)`` when there are no rows. Cells are cut at ``max_width``
    except record keys and component ids, which the reader copies into ``--pair`` or ``--record``.

    Example::

        format_table([{"rule": "email_std", "value": "a@b.fr"}], ["rule", "value"])
    """
    if not rows:
        return f"{indent}(none)"
    headers = headers or {}
    widths_of = {c: 1_000 if "record_key" in c or c == "component_id" else max_width for c in columns}
    cells = [[_cell(row.get(c), widths_of[c]) for c in columns] for row in rows]
    titles = [headers.get(c, c) for c in columns]
    widths = [max(len(t), *(len(r[i]) for r in cells)) for i, t in enumerate(titles)]
    line = lambda values: indent + "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(titles), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def format_customer(customer: Mapping[str, Any]) -> str:
    """A customer (an :func:`explain_customer` dict) as text: its records (the one asked for marked ``*``), the
    links between them, its links to other customers, the splits of its component and its id events."""
    selected = customer.get("record")
    links = customer["links"]
    threshold = customer["clustering_threshold"]
    sources = {r["source"] for r in customer["records"]}
    records = [{**r, "mark": "*" if r["record_key"] == selected else ""} for r in customer["records"]]
    columns = ["mark", *RECORD_COLUMNS] if selected else list(RECORD_COLUMNS)
    probabilistic = links["probabilistic"]
    gammas = [c for c in (probabilistic[0] if probabilistic else {}) if c.startswith("gamma_")]
    out = [
        f"Customer {customer['customer_id']}: {len(records)} record(s) from {len(sources)} source(s) "
        f"({tables.CROSSWALK} + {tables.CUSTOMER_RECORDS})",
        format_table(records, columns, headers={"mark": "", "match_probability": "p", "phone_mobile": "mobile"}),
        "",
        f"Deterministic links between its records ({tables.DETERMINISTIC_EDGES}): {len(links['deterministic'])}",
        format_table(links["deterministic"], ["record_key_l", "record_key_r", "rule", "value"]),
        "",
        f"Probabilistic pairs between its records ({tables.MATCH_PAIRS}; clustering links p >= {threshold}): "
        f"{len(probabilistic)}",
        format_table(probabilistic, ["record_key_l", "record_key_r", "match_probability", "match_weight", "blocking_rule",
                                     *gammas, "above_threshold"],
                     headers={"match_probability": "p", "match_weight": "weight", "above_threshold": "linked",
                              "blocking_rule": "blocked by", **{g: g[len("gamma_"):] for g in gammas}}),
        "",
        f"Links to other customers' records: {len(links['to_other_customers'])}",
        format_table(links["to_other_customers"], ["record_key", "other_record_key", "other_customer_id", "link", "value",
                                                   "match_probability"], headers={"match_probability": "p"}),
        "",
        f"Splits of its linked component ({tables.CLUSTER_SPLITS}): {len(links['splits'])}",
        format_table(links["splits"], ["run_time", "component_id", "size_before", "sizes_after", "reason", "threshold"]),
        "",
        f"Id events ({tables.ID_EVENTS}): {len(links['id_events'])}",
        format_table(links["id_events"],
                     ["event_time", "event_type", "customer_id", "other_ids", "records_affected", "reason"],
                     max_width=60),
        "",
        "Explain a pair: rcu explain --pair <record_key_l> <record_key_r>",
    ]
    return "\n".join(out)


def format_pair(pair: Mapping[str, Any]) -> str:
    """A pair (an :func:`explain_records_pair` dict) as text: where each record stands, the last match run's
    score, then the model's comparisons and weights, or why the model leaves a record out and what linked it."""
    out = [f"Pair {pair['record_key_l']} ~ {pair['record_key_r']}"]
    for r in pair["records"]:
        where = f"customer {r['customer_id']} ({r['match_rule']})" if r.get("customer_id") else "not matched yet"
        out.append(f"  {r['record_key']}: {where}")
    if pair["same_customer"] is not None:
        out.append(f"  {'same customer' if pair['same_customer'] else 'different customers'}")
    stored = pair["stored_pair"]
    out.append(
        f"  last match run ({tables.MATCH_PAIRS}): p {_cell(stored['match_probability'], 12)}, weight "
        f"{stored['match_weight']:.2f}, blocked by {stored['blocking_rule']}" if stored
        else f"  last match run ({tables.MATCH_PAIRS}): not among the scored pairs (not blocked together, or below the "
             "prediction threshold)"
    )
    if pair["direct_links"]:
        shared = ", ".join(f"{e['rule']} = {e['value']}" for e in pair["direct_links"])
        out.append(f"  deterministic links between them: {shared}")
    out.append("")
    if not pair["scored"]:
        for key, reason in pair["not_scored"].items():
            out.append(f"{key} is not scored by the model: {reason}.")
        out.append(f"How it was linked instead ({tables.DETERMINISTIC_EDGES}): {len(pair['linked_by'])} link(s)")
        out.append(format_table(pair["linked_by"], ["record_key_l", "record_key_r", "rule", "value", "customer_id_l",
                                                    "customer_id_r"]))
        return "\n".join(out)
    prior = pair["prior"]
    out.append(f"Comparisons and weights (champion model; prior: probability {prior['probability']:.3g} of two random "
               f"records matching, weight {prior['match_weight']:.2f}):")
    steps = [{**s, "match_weight": f"{s['match_weight']:+.2f}"} for s in pair["steps"]]
    out.append(format_table(steps, ["comparison", "level", "gamma", "value_l", "value_r", "m_probability", "u_probability",
                                    "bayes_factor", "match_weight"],
                            headers={"m_probability": "m", "u_probability": "u", "bayes_factor": "Bayes factor",
                                     "match_weight": "weight"}, max_width=40))
    out.append(f"Final: match weight {pair['match_weight']:.2f} (the sum of the weights above), "
               f"match probability {_cell(pair['match_probability'], 12)}")
    return "\n".join(out)


def render(result: Mapping[str, Any], *, as_json: bool = False) -> str:
    """What ``rcu explain`` prints for a customer or a pair dict: text, or JSON (without the chart object).
    A pair whose waterfall chart was written carries its path in ``html``.

    Example::

        print(render(explain_records_pair(lake, key_l, key_r, config, model_json)))
    """
    if as_json:
        return json.dumps({k: v for k, v in result.items() if k != "chart"}, indent=2, default=str, ensure_ascii=False)
    if "scored" in result:
        text = format_pair(result)
        if result.get("html"):
            text += f"\nWaterfall chart: {result['html']}"
        return text
    return format_customer(result)
