"""State shared by the chunks of one run: random streams, id counters, uniqueness sets, stores, campaigns.

Chunks are generated one after the other, so the counters and sets make ids, emails and phone numbers unique
across the whole run while every draw still comes from a stream keyed by (seed, chunk, purpose).
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np

from spark_lib.generator.resources import Vocab, sample_cdf

EPOCH = dt.date(1970, 1, 1)
WINDOW_DAYS = 730  # the event history covers the 24 months before the reference date

#: Landline first digit by department (01 Île-de-France, 02 north-west, 03 north-east, 04 south-east, 05 south-west).
_REGION_DIGIT = {
    **{d: 1 for d in ("75", "77", "78", "91", "92", "93", "94", "95")},
    **{d: 2 for d in ("14", "18", "22", "27", "28", "29", "35", "36", "37", "41", "44", "45", "49", "50", "53",
                      "56", "61", "72", "76", "79", "85", "86")},
    **{d: 3 for d in ("02", "08", "10", "21", "25", "39", "51", "52", "54", "55", "57", "58", "59", "60", "62",
                      "67", "68", "70", "71", "80", "88", "89", "90")},
    **{d: 5 for d in ("09", "11", "12", "16", "17", "19", "23", "24", "31", "32", "33", "40", "46", "47", "64",
                      "65", "81", "82", "87")},
}


def region_digit(departments: np.ndarray) -> np.ndarray:
    keys = np.array(sorted(_REGION_DIGIT))
    values = np.array([_REGION_DIGIT[k] for k in keys])
    pos = np.clip(np.searchsorted(keys, departments), 0, len(keys) - 1)
    return np.where(keys[pos] == departments, values[pos], 4)


def to_days(date: dt.date) -> int:
    return (date - EPOCH).days


def from_days(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))


@dataclass(frozen=True)
class Stores:
    code: list[str]
    city: np.ndarray           # vocab city index
    department: np.ndarray     # "75"
    phone: np.ndarray          # the store's own number (national significant number)
    #: cashiers of these stores type the store's number when a customer gives none
    default_phone_habit: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    send_second: int   # seconds since epoch


_SEASONS = {12: "NOEL", 1: "HIVER", 2: "HIVER", 3: "PRINTEMPS", 4: "PRINTEMPS", 5: "PRINTEMPS", 6: "ETE",
            7: "ETE", 8: "RENTREE", 9: "RENTREE", 10: "AUTOMNE", 11: "NOEL"}
_THEMES = ("NOUVEAUTES", "PROMO", "SOLDES", "FIDELITE", "BONSPLANS", "INSPIRATION", "VENTEPRIVEE", "LIVRAISON")


class RunState:
    """Random streams and everything that must stay consistent across chunks."""

    def __init__(self, seed: int, reference_day: int, vocab: Vocab):
        self.seed = int(seed)
        self.reference_day = int(reference_day)
        self.window_start = self.reference_day - WINDOW_DAYS
        self.vocab = vocab
        self.emails: set[str] = set()
        self.phones: set[int] = set()
        self._counters: dict[str, int] = {}
        self.stores = self._make_stores()
        self.email_campaigns = self._make_email_campaigns()
        self.catalogue_campaigns = self._make_catalogue_campaigns()

    def rng(self, chunk: int, purpose: str) -> np.random.Generator:
        """An independent stream per (seed, chunk, purpose): changing one source leaves the others' draws alone."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, chunk + 1, zlib.crc32(purpose.encode())]))

    def next_ids(self, name: str, count: int) -> np.ndarray:
        start = self._counters.get(name, 0)
        self._counters[name] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    # ---- fixed scenery of the run

    def _make_stores(self) -> Stores:
        rng = self.rng(-1, "stores")
        vocab = self.vocab
        n_stores = 96
        city_p = np.diff(np.concatenate([[0.0], vocab.city_cdf]))
        # Gumbel top-k: a weighted draw without replacement of the cities that get a store
        keys = np.log(city_p) - np.log(-np.log(rng.random(len(city_p))))
        cities = np.sort(np.argsort(-keys)[:n_stores])
        departments = vocab.departments[cities]
        phone = region_digit(departments) * 100_000_000 + rng.integers(10_000_000, 99_999_999, n_stores)
        weight = city_p[cities] * rng.uniform(0.6, 1.4, n_stores)
        habit = rng.random(n_stores) < 0.25
        habit[np.argsort(-weight)[:3]] = True   # the busiest stores' cashiers do it too
        return Stores(
            code=[f"MAG{i + 1:03d}" for i in range(n_stores)],
            city=cities,
            department=departments,
            phone=phone.astype(np.int64),
            default_phone_habit=habit,
            weight=weight / weight.sum(),
        )

    def _make_email_campaigns(self) -> list[Campaign]:
        rng = self.rng(-1, "email_campaigns")
        campaigns = []
        day = self.window_start + 3
        while day < self.reference_day - 2:
            date = from_days(day)
            theme = _THEMES[int(rng.integers(0, len(_THEMES)))]
            second = day * 86_400 + int(rng.integers(8 * 3600, 11 * 3600))
            campaigns.append(Campaign(f"NL_{date:%Y%m%d}_{theme}", second))
            day += int(rng.integers(12, 19))
        return campaigns

    def _make_catalogue_campaigns(self) -> list[Campaign]:
        campaigns = []
        for back in (690, 575, 455, 335, 215, 80):
            day = self.reference_day - back
            date = from_days(day)
            campaigns.append(Campaign(f"CAT-{date:%Y}-{_SEASONS[date.month]}", day * 86_400 + 6 * 3600))
        return campaigns

    def draw_streets(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return sample_cdf(rng, self.vocab.street_cdf, n), sample_cdf(rng, self.vocab.street_type_cdf, n)
