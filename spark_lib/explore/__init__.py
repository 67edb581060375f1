"""Questions about the customer reference, answered for the notebooks and ``rcu explain`` alike.

- :mod:`~spark_lib.explore.customers`: one customer: its records, the links between them, its linked
  component, its id history, its interactions;
- :mod:`~spark_lib.explore.pairs`: two records: why the model scores them what it does, or why it leaves one
  out and what linked it instead;
- :mod:`~spark_lib.explore.diagnostics`: matching overall: match rules, cluster sizes, borderline pairs, model charts;
- :mod:`~spark_lib.explore.segments`: segments over run dates and the customers' movements between them;
- :mod:`~spark_lib.explore.text`: the plain-text rendering of a customer or a pair for the terminal.

The notebooks in ``notebooks/`` and ``jobs/explain.py`` only read tables, call these functions and show the
results, so that everything they compute is reachable by tests. Functions take DataFrames, or the
:class:`~spark_lib.storage.Lakehouse` when a question spans several tables the match step may not all have
written yet, and return DataFrames or plain dicts; none of them writes.

Example::

    from spark_lib import explore, tables

    crosswalk = lake.read(tables.CROSSWALK)
    customer_id = explore.largest_customer(crosswalk)
    display(explore.customer_records(lake.read(tables.CUSTOMER_RECORDS), crosswalk, customer_id))
    links = explore.customer_links(lake, customer_id, threshold=0.9)          # dict of DataFrames
    print(explore.format_customer(explore.explain_customer(lake, customer_id, threshold=0.9)))
    pair = explore.explain_records_pair(lake, "crm_customers:CLI00003105", "eshop_orders:CMD0000002755", config,
                                        tracking_uri="sqlite:///mlflow.db")
    pair["chart"]                                                             # Splink's waterfall chart
"""

from spark_lib.explore.customers import (
    IDENTITY_COLUMNS,
    RECORD_DETAIL_COLUMNS,
    ExplainError,
    UnknownCustomerError,
    UnknownRecordError,
    collect_rows,
    customer_links,
    customer_of_record,
    customer_record_keys,
    customer_records,
    customer_timeline,
    explain_customer,
    largest_customer,
    linked_component,
    optional_table,
)
from spark_lib.explore.diagnostics import (
    borderline_pairs,
    cluster_size_distribution,
    match_rule_breakdown,
    model_charts_html,
)
from spark_lib.explore.pairs import ModelUnavailableError, explain_records_pair, load_model, not_scored_reason
from spark_lib.explore.segments import movement_matrix, run_dates, segment_distribution, segment_profile
from spark_lib.explore.text import format_customer, format_pair, format_table, render

__all__ = [
    "IDENTITY_COLUMNS",
    "RECORD_DETAIL_COLUMNS",
    "ExplainError",
    "ModelUnavailableError",
    "UnknownCustomerError",
    "UnknownRecordError",
    "borderline_pairs",
    "cluster_size_distribution",
    "collect_rows",
    "customer_links",
    "customer_of_record",
    "customer_record_keys",
    "customer_records",
    "customer_timeline",
    "explain_customer",
    "explain_records_pair",
    "format_customer",
    "format_pair",
    "format_table",
    "largest_customer",
    "linked_component",
    "load_model",
    "match_rule_breakdown",
    "model_charts_html",
    "movement_matrix",
    "not_scored_reason",
    "optional_table",
    "render",
    "run_dates",
    "segment_distribution",
    "segment_profile",
]
