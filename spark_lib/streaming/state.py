"""What the stream's micro-batches keep in memory between them: rebuilt from Delta when the stream starts, and
read again from Delta only when a table's version changes under it.

Reading the identity tables, the golden records and a day of silver back at every micro-batch was most of a
micro-batch's cost. The state holds:

- the references the batch writes: the crosswalk (record -> customer), each trigger's channel per customer
  (consents and contact values of gold.customer, through the audiences' rules), the customers who objected
  (ops.objections), silver.mailings, and when each account was first seen logged in in the batch's web records;
- what the stream writes itself: the silver navigation and order rows of the look-back, the identity links,
  the firings (for the frequency cap and the outbound topic), the latest event time of each micro-batch (the
  watermark). Each write updates the memory and the version it stands for; a version that moved otherwise (the
  batch, an erasure) reloads the table.

Everything is Delta's content: a restart, or a second stream on the same lakehouse, starts from what the tables
hold, and decides what a stream that never stopped would.

Example::

    state = StreamState(lake, sources, config)
    state.refresh()                             # at each micro-batch: reload what changed in Delta
    state.resolve(events["record_key"])         # each record's customer
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import pandas as pd
import pyarrow as pa
from pyspark.sql import functions as F

from spark_lib import tables
from spark_lib.config import SourcesConfig
from spark_lib.gold.audiences import contactable
from spark_lib.privacy.footprint import objecting_customers
from spark_lib.privacy.identifiers import lakehouse_key
from spark_lib.storage import Lakehouse
from spark_lib.streaming.commits import OPEN_TABLES
from spark_lib.streaming.events import event_sources
from spark_lib.streaming.rules import epoch_seconds
from spark_lib.streaming.triggers import TriggersConfig

#: how far back the rules read the silver tables, beyond their own windows
LOOKBACK = dt.timedelta(days=1)
#: the silver columns the rules read
SILVER_COLUMNS = ["interaction_key", "record_key", "event_type", "event_time", "page", "campaign_id"]


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its time-zone-aware columns as naive UTC (the stream's timestamps are UTC)."""
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def to_frame(rows: pa.Table) -> pd.DataFrame:
    """Arrow rows as pandas, timestamps as naive UTC ``datetime64``."""
    return naive_utc(rows.to_pandas())


def account_source(sources: SourcesConfig) -> str | None:
    """The source whose records are the accounts: its record id is its ``account_id`` (``eshop_accounts``)."""
    found = [s.name for s in sources.sources if s.identity.get("account_id") == s.record_id]
    return found[0] if found else None


class StreamState:
    """The memory of the micro-batches (see the module docstring)."""

    def __init__(self, lake: Lakehouse, sources: SourcesConfig, config: TriggersConfig):
        self.lake, self.config = lake, config
        specs = [spec for _, spec in event_sources(sources)]
        self.navigation_sources = {s.name for s in specs if s.interactions.table == "navigation_events"}
        self.accounts = account_source(sources)
        windows = [t.window for t in config.triggers if t.within and t.rule != "catalogue_visit"]
        self.reach = LOOKBACK + max(windows, default=dt.timedelta(0))
        #: the version of each table the memory stands for (None: no table)
        self.loaded: dict[str, int | None] = {}
        self.crosswalk: dict[str, str] = {}
        self.channels: dict[str, dict[str, str]] = {}
        self.objecting: set[str] = set()
        self.mailings: pd.DataFrame | None = None
        self.records_first_seen: dict[str, dt.datetime] = {}
        self.silver: dict[str, pd.DataFrame] = {}
        self.links: dict[str, list[tuple[dt.datetime, str]]] = {}
        self.link_keys: set[tuple[str, str]] = set()
        self.links_first_seen: dict[str, dt.datetime] = {}
        self.fired_times: dict[tuple[str, str], list[int]] = {}
        self.fired_rows: dict[int, list[dict]] = {}
        self.fired_keys: set[str] = set()
        self.batch_times: list[tuple[str, int, dt.datetime | None]] = []

    # versions ------------------------------------------------------------------------------------------------

    def version(self, table: str) -> int | None:
        """The table's latest version (None: not there); the log is read incrementally."""
        found = OPEN_TABLES.get(self.lake.path(table))
        return None if found is None else found.version()

    def _read(self, table: str, columns: Iterable[str]) -> pd.DataFrame:
        return to_frame(OPEN_TABLES.get(self.lake.path(table)).to_pyarrow_table(columns=list(columns)))

    def wrote(self, table: str) -> None:
        """The stream committed to ``table`` and updated the memory accordingly: it stands for the new version."""
        self.loaded[table] = self.version(table)

    def refresh(self) -> None:
        """Reload what changed in Delta since the memory was built (at the first micro-batch: everything)."""
        versions = {table: self.version(table) for table in (
            tables.CROSSWALK, tables.CUSTOMER, tables.OBJECTIONS, tables.interactions("mailings"),
            tables.CUSTOMER_RECORDS, tables.interactions("navigation_events"), tables.interactions("orders"),
            tables.STREAM_IDENTITY_LINKS, tables.TRIGGER_EVENTS, tables.STREAM_BATCHES)}
        changed = {table for table, version in versions.items() if table not in self.loaded or version != self.loaded[table]}
        for table in changed:
            self.loaded[table] = versions[table]
        present = {t for t in changed if self.loaded[t] is not None}
        if tables.CROSSWALK in changed:
            crosswalk = self._read(tables.CROSSWALK, ["record_key", "customer_id"]) if tables.CROSSWALK in present else None
            self.crosswalk = {} if crosswalk is None else dict(zip(crosswalk["record_key"], crosswalk["customer_id"]))
        if tables.CUSTOMER in changed:
            self.channels = self._channels() if tables.CUSTOMER in present else {}
        if changed & {tables.CROSSWALK, tables.CUSTOMER, tables.OBJECTIONS}:
            self.objecting = self._objecting()
        if changed & {tables.interactions("mailings"), tables.CROSSWALK}:
            self.mailings = None
            if self.loaded[tables.interactions("mailings")] is not None:
                mailings = self._read(tables.interactions("mailings"), SILVER_COLUMNS)
                self.mailings = mailings.assign(customer_id=mailings["record_key"].map(self.crosswalk).astype("object"))
        if tables.CUSTOMER_RECORDS in changed:
            self.records_first_seen = self._records_first_seen() if tables.CUSTOMER_RECORDS in present else {}
        for name in ("navigation_events", "orders"):
            table = tables.interactions(name)
            if table in changed:
                self.silver[name] = (self._read(table, SILVER_COLUMNS) if table in present
                                     else pd.DataFrame({c: pd.Series(dtype="object") for c in SILVER_COLUMNS}))
        if tables.STREAM_IDENTITY_LINKS in changed:
            self.links, self.link_keys, self.links_first_seen = {}, set(), {}
            if tables.STREAM_IDENTITY_LINKS in present:
                self.add_links(self._read(tables.STREAM_IDENTITY_LINKS, ["record_key", "account_record_key", "source",
                                                                         "event_time"]))
        if tables.TRIGGER_EVENTS in changed:
            self.fired_times, self.fired_rows, self.fired_keys = {}, {}, set()
            if tables.TRIGGER_EVENTS in present:
                self.add_firings(self._read(tables.TRIGGER_EVENTS, [
                    "trigger_key", "trigger", "customer_id", "channel", "reason", "event_time", "fired_at", "batch_id"]))
        if tables.STREAM_BATCHES in changed:
            self.batch_times = ([tuple(r) for r in self._read(tables.STREAM_BATCHES, [
                "query_id", "batch_id", "max_event_time"]).itertuples(index=False)]
                if tables.STREAM_BATCHES in present else [])

    def forget_before(self, since: dt.datetime) -> None:
        """Drop the silver rows older than ``since``: the look-back no longer reaches them (the watermark only
        moves forward)."""
        for name, rows in self.silver.items():
            self.silver[name] = rows[rows["event_time"] >= since]

    def _channels(self) -> dict[str, dict[str, str]]:
        """Per trigger, the first of its channels each customer consented to and can be reached on (Spark: the
        audiences' :func:`~spark_lib.gold.audiences.contactable`, once per version of gold.customer)."""
        customers = self.lake.read(tables.CUSTOMER)
        columns = [F.coalesce(*[F.when(contactable(c), F.lit(c)) for c in t.channels]).alias(t.name)
                   for t in self.config.triggers]
        frame = customers.select("customer_id", *columns).toArrow().to_pandas()
        return {t.name: frame.dropna(subset=[t.name]).set_index("customer_id")[t.name].to_dict()
                for t in self.config.triggers}

    def _objecting(self) -> set[str]:
        """The customers who objected to marketing (Spark: the privacy module's own rule)."""
        lake = self.lake
        if not (self.loaded.get(tables.OBJECTIONS) is not None and self.loaded.get(tables.CROSSWALK) is not None
                and self.loaded.get(tables.CUSTOMER) is not None):
            return set()
        named = objecting_customers(lake.read(tables.CROSSWALK), lake.read(tables.CUSTOMER),
                                    lake.read(tables.OBJECTIONS), lakehouse_key(lake.root))
        return set(named.toArrow().column("customer_id").to_pylist())

    def _records_first_seen(self) -> dict[str, dt.datetime]:
        """When each account was first seen logged in in the batch's web records (their ``record_time``)."""
        if not self.accounts:
            return {}
        records = self._read(tables.CUSTOMER_RECORDS, ["source", "account_id", "record_time"])
        web = records[records["source"].isin(self.navigation_sources) & records["account_id"].notna()
                      & records["record_time"].notna()]
        first = web.groupby(f"{self.accounts}:" + web["account_id"])["record_time"].min()
        return first.to_dict()

    # what the stream writes ----------------------------------------------------------------------------------

    def add_silver(self, name: str, rows: pd.DataFrame) -> None:
        """This micro-batch's rows of a silver table the rules read; those already there are not added twice."""
        if name not in self.silver:
            return
        held = self.silver[name]
        new = rows[~rows["interaction_key"].isin(held["interaction_key"])][SILVER_COLUMNS]
        if not new.empty:
            self.silver[name] = pd.concat([held, new], ignore_index=True) if not held.empty else new.reset_index(drop=True)

    def add_links(self, links: pd.DataFrame) -> None:
        """Identity links (``record_key, account_record_key, source, event_time``); those known are skipped."""
        for record, account, source, time in links[["record_key", "account_record_key", "source",
                                                     "event_time"]].itertuples(index=False):
            if (record, account) in self.link_keys:
                continue
            self.link_keys.add((record, account))
            self.links.setdefault(record, []).append((time, account))
            if source in self.navigation_sources:
                seen = self.links_first_seen.get(account)
                if seen is None or time < seen:
                    self.links_first_seen[account] = time

    def add_firings(self, rows: pd.DataFrame) -> None:
        """Firings of gold.trigger_events (its columns); those known are skipped."""
        rows = rows[~rows["trigger_key"].isin(self.fired_keys)]
        self.fired_keys.update(rows["trigger_key"])
        for (trigger, customer), second in zip(zip(rows["trigger"], rows["customer_id"]), epoch_seconds(rows["event_time"])):
            self.fired_times.setdefault((trigger, customer), []).append(int(second))
        for row in rows.to_dict("records"):
            self.fired_rows.setdefault(int(row["batch_id"]), []).append(row)

    def add_batch(self, query_id: str, batch_id: int, max_event_time: dt.datetime | None) -> None:
        self.batch_times.append((query_id, batch_id, max_event_time))

    # what the micro-batch asks ----------------------------------------------------------------------------------

    def previous_max_event_time(self, query_id: str, batch_id: int) -> dt.datetime | None:
        """The latest event time of every micro-batch before this one (other queries' included)."""
        times = [t for q, b, t in self.batch_times if (q != query_id or b < batch_id) and t is not None and not pd.isna(t)]
        return max(times) if times else None

    def first_seen(self) -> dict[str, dt.datetime]:
        """Per account key, the earliest time it was seen logged in: the stream's links and the batch's records."""
        seen = dict(self.records_first_seen)
        for account, time in self.links_first_seen.items():
            if account not in seen or time < seen[account]:
                seen[account] = time
        return seen

    def resolved_mailings(self) -> pd.DataFrame | None:
        """silver.mailings with each record's customer: the crosswalk's (resolved when the memory was loaded), else
        the customer of an account a link ties the record to (normally none: links tie the records of events)."""
        mailings = self.mailings
        if mailings is None:
            return None
        linked = mailings["customer_id"].isna() & mailings["record_key"].isin(self.links.keys())
        if linked.any():
            mailings = mailings.copy()
            mailings.loc[linked, "customer_id"] = self.resolve(mailings.loc[linked, "record_key"])
        return mailings

    def resolve(self, record_keys: pd.Series) -> pd.Series:
        """Each record's customer: its own in the crosswalk, else that of the account it was last tied to (the
        latest link whose account the crosswalk knows), else None."""
        crosswalk = self.crosswalk

        def linked(record: str) -> str | None:
            known = [(time, account) for time, account in self.links.get(record, ()) if account in crosswalk]
            if not known:
                return None
            latest = max(time for time, _ in known)
            return crosswalk[min(account for time, account in known if time == latest)]

        keys = pd.Series(record_keys.unique())
        customers = {key: crosswalk.get(key) or linked(key) for key in keys}
        return record_keys.map(customers).astype("object")
