"""Orchestration: draw the population chunk by chunk, build every source, write part files and the truth."""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark_lib.generator import activity, daily, deliveries, identity
from spark_lib.generator import render as r
from spark_lib.generator.daily import DailyChanges
from spark_lib.generator.deliveries import DaySummary
from spark_lib.generator.identity import Chunk
from spark_lib.generator.population import HOUSEHOLD_TYPES, NEVER, PROFILES, ROLES, Population, build_population
from spark_lib.generator.foreign import move_abroad
from spark_lib.generator.resources import COUNTRIES, STREET_TYPES, extend_abroad, load_vocab
from spark_lib.generator.serialize import SOURCE_FILES, Part, skip_part, write_part
from spark_lib.generator.state import RunState, from_days, to_days

#: People per chunk: one part file per source per chunk, and the bound on memory.
CHUNK_PERSONS = 100_000

TRUTH_SCHEMA = pa.schema(
    [("source", pa.string()), ("source_record_id", pa.string()), ("person_id", pa.string())]
)


RETAIL_SOURCES = (
    "eshop_accounts", "eshop_orders", "web_events", "email_events", "newsletter_signups", "loyalty_members",
    "pos_receipts", "crm_customers", "call_centre", "catalogue_mailings",
)


@dataclass(frozen=True)
class Profile:
    """What a generated data set looks like: which sources it holds and who its customers are."""

    name: str
    description: str
    #: the sources written, in SOURCE_FILES; "retail" builds the retailer's ten sources, "store_file" an old
    #: store customer file and the catalogue mailings addressed from it
    sources: tuple[str, ...]
    layout: str = "retail"
    #: share of the persons living abroad (BE, CH, LU, DE, ES, GB; see generator.foreign)
    foreign_share: float = 0.0


GENERATOR_PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("standard", "the retailer's ten sources, everybody living in France", RETAIL_SOURCES),
    Profile("foreign", "the ten sources, 10 % of the persons living in BE, CH, LU, DE, ES or GB", RETAIL_SOURCES,
            foreign_share=0.10),
    Profile("store_crm_only", "an old store customer file and its catalogue mailings: names, postal addresses "
            "and birth dates, no email, phone, card, account, CRM code or cookie",
            ("store_customers", "catalogue_mailings"), layout="store_file"),
)}


def get_profile(name: str, foreign_share: float | None = None) -> Profile:
    """The profile called ``name``, its foreign share replaced by ``foreign_share`` when given.

    Example::

        get_profile("foreign", foreign_share=0.2).foreign_share   # 0.2
    """
    if name not in GENERATOR_PROFILES:
        raise ValueError(f"unknown generator profile {name!r}; profiles: {', '.join(GENERATOR_PROFILES)}")
    profile = GENERATOR_PROFILES[name]
    if foreign_share is None:
        return profile
    if isinstance(foreign_share, bool) or not isinstance(foreign_share, (int, float)) or not 0 <= foreign_share <= 1:
        raise ValueError(f"'foreign_share' must be a number between 0 and 1, got {foreign_share!r}")
    return dataclasses.replace(profile, foreign_share=float(foreign_share))


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote."""

    persons: int
    #: every file written: the raw part files first, then the days' files, then the truth files
    files: list[str]
    #: rows written per source of the profile, malformed rows included
    rows_per_source: dict[str, int]
    malformed_per_source: dict[str, int]
    seconds: float
    profile: str = "standard"
    foreign_share: float = 0.0
    #: the daily deliveries written (see :mod:`spark_lib.generator.deliveries`)
    days: list[DaySummary] = field(default_factory=list)


def _check_days(days, first_day, changes, profile: Profile) -> DailyChanges:
    for name, value in (("days", days), ("first_day", first_day)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"'{name}' must be a non-negative integer, got {value!r}")
    if first_day > days:
        raise ValueError(f"'first_day' ({first_day}) cannot be after the last day ({days})")
    if days and profile.layout != "retail":
        raise ValueError(f"daily deliveries are generated for the retailer's sources; profile {profile.name!r} "
                         f"writes {', '.join(profile.sources)}")
    if changes is not None and not isinstance(changes, DailyChanges):
        raise TypeError(f"'changes' must be a DailyChanges or None, got {type(changes).__name__}")
    return changes or DailyChanges()


def _check_arguments(persons, raw_dir, truth_dir, seed, reference_date, progress) -> int:
    if isinstance(persons, bool) or not isinstance(persons, (int, np.integer)):
        raise TypeError(f"'persons' must be an integer, got {type(persons).__name__} {persons!r}")
    if persons < 1:
        raise ValueError(f"'persons' must be at least 1, got {persons}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"'seed' must be a non-negative integer, got {seed!r}")
    for name, value in (("raw_dir", raw_dir), ("truth_dir", truth_dir)):
        if value is None or str(value) == "":
            raise ValueError(f"'{name}' cannot be None or empty")
    if progress is not None and not callable(progress):
        raise TypeError(f"'progress' must be callable or None, got {type(progress).__name__}")
    if isinstance(reference_date, dt.datetime):
        return to_days(reference_date.date())
    if isinstance(reference_date, dt.date):
        return to_days(reference_date)
    try:
        return to_days(dt.date.fromisoformat(str(reference_date)))
    except ValueError as error:
        raise ValueError(f"'reference_date' must be a date like '2026-10-31', got {reference_date!r}") from error


def generate(
    persons: int,
    raw_dir: str | os.PathLike = "data/raw",
    truth_dir: str | os.PathLike = "data/truth",
    seed: int = 42,
    reference_date: str | dt.date = "2026-10-31",
    progress: Callable[[str], None] | None = None,
    profile: str = "standard",
    foreign_share: float | None = None,
    days: int = 0,
    first_day: int = 0,
    changes: DailyChanges | None = None,
) -> GenerationSummary:
    """Write the raw files of every source for ``persons`` synthetic people, and the ground truth.

    The raw files go to ``raw_dir`` at the paths of ``conf/sources.yaml``: one part file per source per
    100,000 people, e.g. ``raw_dir/eshop/comptes_clients_part-0001.csv``. The part files of an earlier run
    (``*_part-NNNN.*`` at those paths) are removed first; other files are left alone.
    ``truth_dir/truth.parquet`` maps every record id to its person (source, source_record_id, person_id) and
    ``truth_dir/persons.parquet`` holds the people's true attributes. Same seed and persons: byte-identical
    files. Events cover the 24 months before ``reference_date``. ``progress(message)`` is called after each
    chunk of 100,000 people.

    ``profile`` (see :data:`GENERATOR_PROFILES`) chooses the sources written and who the customers are;
    ``foreign_share`` replaces the profile's share of persons living abroad. The standard profile's files do not depend on
    the other profiles: their draws come from streams of their own.

    ``days``: after the initial delivery, the daily deliveries of days 1 to ``days`` (the dates after
    ``reference_date``), as the retailer's systems send them: dated files beside the part files, deletion lists,
    a re-sent file, and the truth of every day (modules ``daily`` and ``deliveries``). ``changes`` says how
    much a day changes (:class:`DailyChanges`: 1 % of the initial delivery's records by default) and which
    sources send full extracts. ``first_day``: the first delivery written: 0, the initial one (the files of an earlier
    run's days are removed first), or a day k, to add days k to ``days`` to a raw_dir holding the earlier ones
    (they are replayed in memory: ``truth_dir/deliveries.json`` must show the same persons, seed and settings;
    day 1 can follow an initial delivery written without days, whose truth must then be the one rebuilt).
    Each day depends only on the seed and the days before it: ``days=3`` then ``days=5, first_day=4`` writes the
    files of ``days=5``. With ``days=0`` the files are those of a run without days.

    Example::

        from spark_lib.generator import generate
        summary = generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", seed=42)
        print(summary.rows_per_source["web_events"], summary.seconds)
        generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", profile="store_crm_only")
        generate(persons=1000, raw_dir="data/raw", truth_dir="data/truth", days=3,
                 changes=DailyChanges(per_day=500))
    """
    ref_day = _check_arguments(persons, raw_dir, truth_dir, seed, reference_date, progress)
    chosen = get_profile(profile, foreign_share)
    changes = _check_days(days, first_day, changes, chosen)
    persons = int(persons)
    began = time.perf_counter()
    raw = Path(raw_dir)
    truth = Path(truth_dir)
    settings = deliveries.settings(persons, int(seed), chosen, f"{from_days(ref_day):%Y-%m-%d}", changes)
    if first_day:
        deliveries.check_earlier_days(truth, settings, first_day)
    deliveries.remove_days(raw, truth, max(first_day, 1))
    write_initial = first_day == 0
    if write_initial:
        for prefix, ext, _ in SOURCE_FILES.values():
            for stale in glob.glob(str(raw / f"{glob.escape(prefix)}_part-*.{ext}")):
                os.remove(stale)
    # days added to earlier ones: the initial truth, rebuilt, goes aside (the truth there is the last day's)
    initial = truth if write_initial else truth / "_initial"
    initial.mkdir(parents=True, exist_ok=True)

    abroad = None
    if chosen.foreign_share > 0:
        vocab, abroad = extend_abroad()
    else:
        vocab = load_vocab()
    state = RunState(int(seed), ref_day, vocab)
    world = daily.World(state, abroad, chosen.foreign_share) if days else None
    n_chunks = (persons + CHUNK_PERSONS - 1) // CHUNK_PERSONS
    files: list[str] = []
    rows = {name: 0 for name in chosen.sources}
    malformed = {name: 0 for name in chosen.sources}
    truth_path = initial / "truth.parquet"
    persons_path = initial / "persons.parquet"
    truth_writer = pq.ParquetWriter(truth_path, TRUTH_SCHEMA, compression="snappy")
    persons_writer = None
    try:
        for c in range(n_chunks):
            start = c * CHUNK_PERSONS
            size = min(CHUNK_PERSONS, persons - start)
            pop = build_population(state, c, start, size)
            if abroad is not None:
                move_abroad(state, abroad, c, pop, chosen.foreign_share)
            chunk = Chunk(state=state, index=c, pop=pop, n_chunks=n_chunks)

            def emit(part: Part, records=None) -> None:
                if part.source not in rows:
                    raise ValueError(f"profile {chosen.name!r} does not write source {part.source!r}")
                if write_initial:
                    path, n_rows, n_bad = _write_part(state, c, raw, part)
                    files.append(str(path))
                else:
                    n_rows, n_bad = skip_part(state.rng(c, f"serialize:{part.source}"), part,
                                              SOURCE_FILES[part.source][1])
                if world is not None:
                    world.collect(part, records, start)
                rows[part.source] += n_rows
                malformed[part.source] += n_bad
                ids, who = part.extra["truth"]
                truth_writer.write_table(pa.table({
                    "source": pa.array(np.full(len(ids), part.source, dtype=object), pa.string()),
                    "source_record_id": ids,
                    "person_id": pc.take(pop.person_id, np.asarray(who)),
                }, schema=TRUTH_SCHEMA))

            LAYOUTS[chosen.layout](chunk, emit)
            if world is not None:
                world.add_population(pop)

            table = persons_table(state, pop)
            if persons_writer is None:
                persons_writer = pq.ParquetWriter(persons_path, table.schema, compression="snappy")
            persons_writer.write_table(table)
            if progress is not None:
                progress(f"persons {start + size}/{persons} ({time.perf_counter() - began:.1f}s)")
    finally:
        truth_writer.close()
        if persons_writer is not None:
            persons_writer.close()
    files.sort(key=lambda f: (list(SOURCE_FILES).index(_source_of(f)), f))
    if not days:
        files += [str(truth_path), str(persons_path)]
        written_days = []
    else:
        if first_day:
            deliveries.check_initial_truth(truth, truth_path)
        initial_truth = pq.read_table(truth_path)
        if initial != truth:
            shutil.rmtree(initial)
        written_days, day_files, truth_files = _write_days(world, raw, truth, initial_truth, days, first_day,
                                                           changes, settings, progress, began)
        files += day_files + [str(f) for f in truth_files]
    return GenerationSummary(
        persons=persons,
        files=files,
        rows_per_source=rows,
        malformed_per_source=malformed,
        seconds=round(time.perf_counter() - began, 3),
        profile=chosen.name,
        foreign_share=chosen.foreign_share,
        days=written_days,
    )


def _write_days(world: daily.World, raw: Path, truth: Path, initial_truth: pa.Table, days: int, first_day: int,
                changes: DailyChanges, settings: dict, progress, began: float
                ) -> tuple[list[DaySummary], list[str], list[Path]]:
    """Days 1 to ``days`` after the initial delivery (those before ``first_day`` replayed, not written), then the
    truth after the last one; returns the days written, their files and the truth files."""
    world.close_initial_delivery()
    summaries, delivered, earlier = [], [], []
    for k in range(1, days + 1):
        delivery = daily.simulate_day(world, k, changes)
        summary = deliveries.write_delivery(world.state, delivery, raw, changes.snapshot_sources, earlier,
                                            write=k >= first_day)
        delivery.parts = {}   # written: only its truth is kept
        delivered.append(delivery)
        summaries.append(summary)
        earlier = summary.files
        if progress is not None:
            counts = summary.records
            progress(f"day {k} ({summary.date}): {counts['new']:,} records new, {counts['updated']:,} changed, "
                     f"{counts['deleted']:,} deleted, {len(summary.files)} files"
                     f"{'' if k >= first_day else ' (already in raw_dir)'} ({time.perf_counter() - began:.1f}s)")
    truth_files = deliveries.write_truth(truth, initial_truth, delivered, persons_table(world.state, world.pop))
    truth_files.append(deliveries.write_manifest(truth, settings, summaries))
    written = [s for s in summaries if s.day >= first_day]
    return written, [str(raw / f) for s in written for f in s.files], truth_files


def _retail_sources(chunk: Chunk, emit: Callable[..., None]) -> None:
    """The retailer's ten sources, each feeding the next (accounts -> orders -> web sessions...); each part is
    handed to ``emit`` with what the daily deliveries keep of it (accounts, cards, orders, cookies...)."""
    pop = chunk.pop
    visits = activity.Visits()
    part, accounts = identity.eshop_accounts(chunk)
    emit(part, accounts)
    part, cards = identity.loyalty_members(chunk)
    emit(part, cards)
    part, crm = identity.crm_customers(chunk)
    emit(part, crm)
    part, signups = identity.newsletter_signups(chunk)
    emit(part, signups)
    has_account = np.zeros(pop.n, dtype=bool)
    has_account[accounts.p] = True
    part, triggers = activity.catalogue_mailings(chunk, crm, has_account, visits)
    emit(part)
    part, orders = activity.eshop_orders(chunk, accounts, triggers, visits)
    emit(part, orders)
    emit(activity.pos_receipts(chunk, cards, visits))
    emit(*activity.email_events(chunk, accounts, signups, visits))
    emit(*activity.web_events(chunk, accounts, visits))
    emit(activity.call_centre(chunk, orders))


def _store_file_sources(chunk: Chunk, emit: Callable[..., None]) -> None:
    """An old store customer file and the catalogue mailings addressed from it (no CRM code: none existed)."""
    part, cards = identity.store_customers(chunk)
    emit(part)
    part, _ = activity.catalogue_mailings(chunk, cards, np.zeros(chunk.pop.n, dtype=bool), activity.Visits())
    emit(part)


#: Profile.layout -> the function that builds a chunk's sources and hands each part to ``emit``.
LAYOUTS: dict[str, Callable[[Chunk, Callable[..., None]], None]] = {
    "retail": _retail_sources,
    "store_file": _store_file_sources,
}


def _source_of(path: str) -> str:
    for name, (prefix, ext, _) in SOURCE_FILES.items():
        if Path(path).as_posix().endswith(f".{ext}") and f"/{prefix}_part-" in Path(path).as_posix():
            return name
    raise KeyError(path)


def _write_part(state: RunState, chunk: int, raw: Path, part: Part) -> tuple[Path, int, int]:
    prefix, ext, _ = SOURCE_FILES[part.source]
    path = raw / f"{prefix}_part-{chunk + 1:04d}.{ext}"
    n_rows, n_bad = write_part(state.rng(chunk, f"serialize:{part.source}"), part, path)
    return path, n_rows, n_bad


def persons_table(state: RunState, pop: Population) -> pa.Table:
    """The true attributes of a chunk's people (for debugging and evaluation; never read by the pipeline)."""
    vocab = state.vocab

    def street(addr) -> pa.Array:
        types = r.strings([t for t, _, _ in STREET_TYPES])
        name = r.take(vocab.streets_arr, addr.street)
        abroad = vocab.foreign_streets(addr.street)
        if abroad is not None:   # "Hauptstraße", "Rue de la Loi": the type is part of the name abroad
            return r.where(abroad, name, r.concat(r.take(types, addr.stype), " ", name))
        return r.concat(r.take(types, addr.stype), " ", name)

    def number(addr) -> pa.Array:
        return r.concat(r.int_str(addr.number), r.take(r.strings(["", " bis", " ter"]), addr.suffix))

    moved = pop.move_day > NEVER
    table = pa.table({
        "person_id": pop.person_id,
        "household_id": pop.household_id,
        "household_type": r.take(r.strings(list(HOUSEHOLD_TYPES)), pop.htype),
        "role": r.take(r.strings(list(ROLES)), pop.role),
        "sex": r.take(r.strings(["M", "F"]), pop.sex),
        "civility": r.take(r.strings(["M", "MME"]), pop.sex),
        "first_name": r.take(vocab.first_arr, pop.first),
        "last_name": r.take(vocab.last_arr, pop.last),
        "birth_name": r.take(vocab.last_arr, pop.birth_last),
        "birth_date": pa.array(pop.birth.astype(np.int32), pa.date32()),
        "email": pop.email,
        "email_alt": pop.email_alt,
        "family_email": pa.array(pop.family_email),
        "mobile_phone": r.e164(pop.mobile),
        "landline_phone": r.e164(pop.landline),
        "house_number": number(pop.addr),
        "street": street(pop.addr),
        "address_extra": pop.addr.extra,
        "postcode": r.take(vocab.postcodes_arr, pop.addr.city),
        "city": r.take(vocab.cities_arr, pop.addr.city),
        "moved": pa.array(moved),
        "move_date": pa.array(np.where(moved, pop.move_day, 0).astype(np.int32), pa.date32(), mask=~moved),
        "previous_house_number": r.null_where(~moved, number(pop.old_addr)),
        "previous_street": r.null_where(~moved, street(pop.old_addr)),
        "previous_postcode": r.null_where(~moved, r.take(vocab.postcodes_arr, pop.old_addr.city)),
        "previous_city": r.null_where(~moved, r.take(vocab.cities_arr, pop.old_addr.city)),
        "engagement_profile": r.take(r.strings(list(PROFILES)), pop.profile),
        "is_twin": pa.array(pop.twin),
        "homonym_of": r.null_where(pop.homonym_of < 0, r.concat("P", r.padded(np.maximum(pop.homonym_of, 0) + 1, 8))),
        "home_store": r.take(r.strings(state.stores.code), pop.home_store),
        "web_user": pa.array(pop.web),
        "store_shopper": pa.array(pop.shopper),
    })
    if pop.country is None:   # the standard profile's table, unchanged
        return table
    return table.append_column("country", r.take(r.strings(list(COUNTRIES)), pop.country))
