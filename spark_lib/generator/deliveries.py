"""The daily deliveries as files: their names, how each source sends them, and the truth of every day.

A day's files sit beside the initial delivery, named with the date so that each source's glob in
``conf/sources.yaml`` picks them up::

    eshop/comptes_clients_20261101.csv                   new and changed e-shop accounts (an increment)
    crm/extraction_clients_20261101.csv                  the CRM's full extract (a snapshot)
    eshop/suppressions_comptes_clients_20261101.csv      accounts deleted at the source that day (a deletion list)
    magasins/tickets_20261101.parquet                    the day's receipts; likewise orders, navigation, calls...
    service_client/appels_20261101_renvoi_20261102.csv   a re-sent file: the same bytes as appels_20261101.csv

How each source delivers:

* **increments**: every source but the snapshot ones sends the day's new records and, whole rows as of the end
  of the day, the records changed that day (an account whose address changed comes again with every column,
  ``date_maj`` set to the day), and the day's events. A source with nothing new sends no file (a header-only
  file is a bad file for ingest).
* **snapshots** (``DailyChanges.snapshot_sources``, default the CRM extract): the full extract, every record the
  source holds at the end of the day, sorted by record id; a record missing from it was deleted at the source.
* **deletion lists**: the incremental sources holding customer records (e-shop accounts, loyalty members,
  newsletter sign-ups; the CRM too when it is not a snapshot) send the records they deleted that day as
  ``<folder>/suppressions_<file stem>_<yyyymmdd>.csv``: ``;``-separated UTF-8 with a header, columns the
  source's record id column (``id_compte``, ``num_carte``, ``code_client``, ``id_inscription``),
  ``date_suppression`` (yyyy-MM-dd) and ``motif`` (``fermeture``: closed at the customer's request, ``rgpd``: an
  erasure request, ``inactivite``: purged after years without activity). No source's glob matches these names.
  A deleted record's past orders, receipts and events stay: the retailer keeps its sales.
* **re-sent files**: on days 2, 5, 8..., one incremental file of the day before is delivered again byte for
  byte as ``<its name>_renvoi_<yyyymmdd>.<ext>`` (a sender's retry landing beside the first copy); ingest must
  skip it by its content. Never a snapshot: which extract is current would be ambiguous.

The truth (``truth_dir``, :func:`write_truth`): ``truth.parquet`` maps every record held after the last day to
its person (the columns of the initial truth); ``deleted.parquet`` lists the deleted records (source,
source_record_id, person_id, day, deleted_on, deleted_by: deletion_list or snapshot);
``days/<yyyymmdd>.parquet`` lists each record the day delivered or deleted (change: new, updated, deleted;
reason: new_customer, activity, move, email, mobile, married_name, new_card, typo_fix, consent, opt_out,
deleted); ``persons.parquet`` holds the persons after the last day (new customers appended, moves and names
applied; a person keeps their person_id). :func:`truth_as_of` gives the truth after any day.
``deliveries.json`` records the settings and what each day wrote, so that days can be added later.

Example::

    truth_as_of("data/truth", 2)     # source, source_record_id, person_id of the records held after day 2
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark_lib.generator.serialize import SOURCE_FILES, Part, write_part
from spark_lib.generator.state import RunState, from_days

if TYPE_CHECKING:
    from spark_lib.generator.daily import DailyChanges

TRUTH_DAY_SCHEMA = pa.schema([
    ("source", pa.string()), ("source_record_id", pa.string()), ("person_id", pa.string()),
    ("change", pa.string()), ("reason", pa.string()), ("deleted_by", pa.string()),
])
DELETED_SCHEMA = pa.schema([
    ("source", pa.string()), ("source_record_id", pa.string()), ("person_id", pa.string()),
    ("day", pa.int32()), ("deleted_on", pa.date32()), ("deleted_by", pa.string()),
])



@dataclass(frozen=True)
class DaySummary:
    """What one day delivered."""

    day: int
    date: str
    #: the day's raw files (deletion lists and the re-sent copy included), relative to raw_dir
    files: list[str]
    #: records delivered new, changed or deleted that day (a record counts once)
    records: dict[str, int]
    #: rows of the day's file per source (a snapshot counts all its rows)
    rows_per_source: dict[str, int]
    resent: str | None = None


@dataclass
class Delivery:
    """One day's files before they are written, and its truth."""

    day: int
    number: int                                                  # days since 1970-01-01
    stream: int                                                  # the day's random streams (RunState.rng)
    parts: dict[str, Part] = field(default_factory=dict)         # source -> the day's file content
    deletions: dict[str, pa.Table] = field(default_factory=dict)  # source -> its deletion list
    truth: pa.Table | None = None                                # TRUTH_DAY_SCHEMA
    deleted: pa.Table | None = None                              # DELETED_SCHEMA

    @property
    def stamp(self) -> str:
        return f"{from_days(self.number):%Y%m%d}"



# --------------------------------------------------------------------------------------------------
# Files: names, writing, re-sent copies, the truth
# --------------------------------------------------------------------------------------------------


def day_file(source: str, stamp: str) -> str:
    """The day's file of ``source``, relative to raw_dir: ``eshop/comptes_clients_20261101.csv``."""
    prefix, ext, _ = SOURCE_FILES[source]
    return f"{prefix}_{stamp}.{ext}"


def deletion_list(source: str, stamp: str) -> str:
    """The day's deletion list of ``source``: ``eshop/suppressions_comptes_clients_20261101.csv``."""
    folder, _, stem = SOURCE_FILES[source][0].rpartition("/")
    return f"{folder}/suppressions_{stem}_{stamp}.csv"


def resent_copy(name: str, stamp: str) -> str:
    """The name a re-sent file lands under: ``service_client/appels_20261101_renvoi_20261102.csv``."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_renvoi_{stamp}{dot}{ext}"


def write_delivery(state: RunState, delivery: Delivery, raw: Path, snapshot_sources: tuple[str, ...],
                   earlier: list[str], write: bool = True) -> DaySummary:
    """Write one day's files under ``raw`` (``earlier``: the files of the day before, one of which some days
    re-send); ``write=False`` only names them (a day already in ``raw``)."""
    files, rows = [], {}
    for source in SOURCE_FILES:
        part = delivery.parts.get(source)
        if part is None:
            continue
        name = day_file(source, delivery.stamp)
        rng = state.rng(delivery.stream, f"serialize:{source}")
        rows[source] = write_part(rng, part, raw / name)[0] if write else part.n
        files.append(name)
    for source, table in delivery.deletions.items():
        name = deletion_list(source, delivery.stamp)
        if write:
            (raw / name).parent.mkdir(parents=True, exist_ok=True)
            lines = [";".join(table.column_names)] + [";".join(row) for row in zip(*(c.to_pylist()
                                                                                     for c in table.columns))]
            (raw / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(name)
    resent = None
    increments = sorted(f for f in earlier if "_renvoi_" not in f and "/suppressions_" not in f
                        and not any(f.startswith(SOURCE_FILES[s][0] + "_") for s in snapshot_sources))
    if delivery.day % 3 == 2 and increments:
        original = increments[(delivery.day // 3) % len(increments)]
        resent = resent_copy(original, delivery.stamp)
        if write:
            if not (raw / original).exists():
                raise FileNotFoundError(f"day {delivery.day} re-sends {original}, which is not in {raw}: write the "
                                        f"days from day {delivery.day - 1} on")
            shutil.copyfile(raw / original, raw / resent)
        files.append(resent)
    truth = delivery.truth
    records = {change: len(set(zip(*(truth.filter(pc.equal(truth["change"], change)).column(c).to_pylist()
                                      for c in ("source", "source_record_id")))))
               for change in ("new", "updated", "deleted")}
    return DaySummary(delivery.day, f"{from_days(delivery.number):%Y-%m-%d}", files, records, rows, resent)


def write_truth(truth: Path, initial_truth: pa.Table, deliveries: list[Delivery], persons: pa.Table) -> list[Path]:
    """The truth after the last day: ``truth.parquet`` (records held, same columns as the initial truth),
    ``deleted.parquet``, ``days/<yyyymmdd>.parquet`` and ``persons.parquet``; returns the files written."""
    deleted = pa.concat_tables([d.deleted for d in deliveries])
    new = pa.concat_tables([d.truth.filter(pc.equal(d.truth["change"], "new")) for d in deliveries])
    held = pa.concat_tables([initial_truth, new.select(initial_truth.column_names).cast(initial_truth.schema)])
    gone = pc.binary_join_element_wise(deleted["source"], deleted["source_record_id"], ":")
    keys = pc.binary_join_element_wise(held["source"], held["source_record_id"], ":")
    held = held.filter(pc.invert(pc.is_in(keys, value_set=gone)))
    (truth / "days").mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (("truth.parquet", held), ("deleted.parquet", deleted), ("persons.parquet", persons)):
        pq.write_table(table, truth / name, compression="snappy")
        written.append(truth / name)
    for delivery in deliveries:
        path = truth / "days" / f"{delivery.stamp}.parquet"
        pq.write_table(delivery.truth, path, compression="snappy")
        written.append(path)
    return written


def truth_as_of(truth_dir: str | Path, day: int) -> pa.Table:
    """The truth after ``day`` (0: the initial delivery): source, source_record_id, person_id of every record
    held then, from the truth after the last day and the days' files.

    Example::

        truth_as_of("data/truth", 2).num_rows
    """
    truth = Path(truth_dir)
    held = pq.read_table(truth / "truth.parquet", columns=["source", "source_record_id", "person_id"])
    deleted_path = truth / "deleted.parquet"
    if not deleted_path.exists():
        return held
    manifest = json.loads((truth / "deliveries.json").read_text(encoding="utf-8"))
    later = [d for d in manifest["days"] if d["day"] > day]
    new_later = [pq.read_table(truth / "days" / f"{d['date'].replace('-', '')}.parquet") for d in later]
    new_later = [t.filter(pc.equal(t["change"], "new")) for t in new_later]
    deleted = pq.read_table(deleted_path)
    deleted = deleted.filter(pc.greater(deleted["day"], day)).select(held.column_names)
    table = pa.concat_tables([held, deleted])
    if new_later:
        later_keys = pa.concat_tables(new_later)
        later_keys = pc.binary_join_element_wise(later_keys["source"], later_keys["source_record_id"], ":")
        keys = pc.binary_join_element_wise(table["source"], table["source_record_id"], ":")
        table = table.filter(pc.invert(pc.is_in(keys, value_set=later_keys)))
    return table


# --------------------------------------------------------------------------------------------------
# deliveries.json: the settings of the days and what each wrote
# --------------------------------------------------------------------------------------------------

MANIFEST = "deliveries.json"


def settings(persons: int, seed: int, profile, reference_date: str, changes: DailyChanges) -> dict:
    """What the days depend on: days added later must be generated with the same."""
    return {"persons": persons, "seed": seed, "profile": profile.name, "foreign_share": profile.foreign_share,
            "reference_date": reference_date, "change_rate": changes.rate, "changes_per_day": changes.per_day,
            "snapshot_sources": list(changes.snapshot_sources)}


def check_earlier_days(truth: Path, expected: dict, first_day: int) -> None:
    """Refuse to add days from ``first_day`` unless ``truth`` records days 1 to first_day - 1 made with the same
    settings (the days are replayed in memory, so they must be the ones in raw_dir). Day 1 can follow an
    initial delivery written without days: :func:`check_initial_truth` then compares its truth."""
    path = truth / MANIFEST
    if not path.exists():
        if first_day == 1 and (truth / "truth.parquet").exists():
            return
        raise ValueError(f"no daily deliveries recorded in {path}: generate from day 0 (the initial delivery) first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    different = [f"{k}: {manifest['settings'].get(k)!r} there, {v!r} here" for k, v in expected.items()
                 if manifest["settings"].get(k) != v]
    if different:
        raise ValueError(f"the deliveries in {path} were generated with other settings ({'; '.join(different)})")
    missing = sorted(set(range(1, first_day)) - {d["day"] for d in manifest["days"]})
    if missing:
        raise ValueError(f"days {', '.join(map(str, missing))} are not in {path}: add days from day {missing[0]}")


def check_initial_truth(truth: Path, rebuilt: Path) -> None:
    """Days added to an initial delivery written without days: its truth must be the one these settings build."""
    if (truth / MANIFEST).exists():
        return
    if (truth / "truth.parquet").read_bytes() != rebuilt.read_bytes():
        shutil.rmtree(rebuilt.parent)
        raise ValueError(f"{truth / 'truth.parquet'} is not the truth of an initial delivery with these persons, "
                         "seed, profile and reference date: pass the ones it was generated with")


def remove_days(raw: Path, truth: Path, from_day: int) -> None:
    """Remove the files an earlier run wrote for days ``from_day`` and after (as its deliveries.json lists
    them); from day 1, its day truth too."""
    path = truth / MANIFEST
    if not path.exists():
        return
    for day in json.loads(path.read_text(encoding="utf-8"))["days"]:
        if day["day"] >= from_day:
            for name in day["files"]:
                (raw / name).unlink(missing_ok=True)
            (truth / "days" / f"{day['date'].replace('-', '')}.parquet").unlink(missing_ok=True)
    if from_day <= 1:
        for name in (MANIFEST, "deleted.parquet"):
            (truth / name).unlink(missing_ok=True)
        if (truth / "days").is_dir() and not any((truth / "days").iterdir()):
            (truth / "days").rmdir()


def write_manifest(truth: Path, settings: dict, days: list[DaySummary]) -> Path:
    path = truth / MANIFEST
    path.write_text(json.dumps({"settings": settings, "days": [dataclasses.asdict(d) for d in days]}, indent=1),
                    encoding="utf-8")
    return path
