"""A realistic, seeded CRM for the demo: a few hundred listings across six cities.

Pure Python (no Django), so the training-data generator can use the same records.
The same seed and start date always give the same CRM.
"""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

CITIES = {  # city -> (state code for MLS ids, median price, UTC offset in hours)
    "Austin": ("TX", 520_000, -6),
    "Dallas": ("TX", 430_000, -6),
    "Houston": ("TX", 360_000, -6),
    "San Antonio": ("TX", 310_000, -6),
    "Denver": ("CO", 610_000, -7),
    "Phoenix": ("AZ", 450_000, -7),
}
STREETS = [
    "Oak", "Elm", "Maple", "Cedar", "Pine", "Birch", "Willow", "Pecan", "Magnolia", "Juniper",
    "Lamar", "Ramsey", "Guadalupe", "Congress", "Barton", "Riverside", "Sunset", "Mesa",
    "Highland", "Lakeview", "Meadow", "Canyon", "Ridge", "Bluebonnet", "Colorado", "Travis",
]  # fmt: skip
SUFFIXES = ["St", "Ave", "Ln", "Dr", "Ct", "Blvd", "Way", "Rd", "Pl", "Trl"]
FIRST = [
    "Maria", "James", "Priya", "Dev", "Sofia", "Liam", "Aisha", "Noah", "Elena", "Marcus", "Hana",
    "Omar", "Grace", "Diego", "Chloe", "Ethan", "Fatima", "Lucas", "Mei", "Samuel", "Zoe", "Andre",
]  # fmt: skip
LAST = [
    "Gonzalez", "Patel", "Nguyen", "Smith", "Johnson", "Kim", "Garcia", "Okafor", "Müller", "Rossi",
    "Chen", "Hernandez", "Brooks", "Reyes", "Walker", "Singh", "Lopez", "Tanaka", "Evans", "Flores",
]  # fmt: skip
# The demo CRM is dated, not relative to today: the demo dataset and every evaluation built on
# it must come out the same from a fresh clone on any day.
DEMO_TODAY = date(2026, 11, 21)
ROLES = ["agent"] * 10 + ["buyer"] * 14 + ["seller"] * 10 + ["lender"] * 4 + ["inspector"] * 3


@dataclass(frozen=True, kw_only=True)
class ContactRecord:
    name: str
    role: str
    phone: str
    email: str


@dataclass(frozen=True, kw_only=True)
class ListingRecord:
    mls_id: str
    address: str
    city: str
    price: int
    beds: int
    baths: float
    sqft: int
    status: str
    photo_url: str
    agent: str  # contact name
    seller: str
    buyers: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SaleRecord:
    address: str
    city: str
    sold_price: int
    sold_date: date
    sqft: int


@dataclass(frozen=True, kw_only=True)
class SlotRecord:
    mls_id: str
    start: datetime
    minutes: int


@dataclass(frozen=True, kw_only=True)
class CrmFixture:
    contacts: list[ContactRecord] = field(default_factory=list)
    listings: list[ListingRecord] = field(default_factory=list)
    sales: list[SaleRecord] = field(default_factory=list)
    slots: list[SlotRecord] = field(default_factory=list)


def _round_price(value: float) -> int:
    step = 5_000 if value < 1_000_000 else 25_000
    return max(step, round(value / step) * step - 100 * (int(value) % 3 == 0))


def _contacts(rng: random.Random) -> list[ContactRecord]:
    names = set()
    contacts = []
    for role in ROLES:
        while (name := f"{rng.choice(FIRST)} {rng.choice(LAST)}") in names:
            pass
        names.add(name)
        handle = name.lower().replace(" ", ".").replace("ü", "ue")
        phone = f"+1 ({rng.randint(201, 989)}) 555-{rng.randint(100, 199):04d}"
        # Not everyone has both: the contact card must cope with either.
        has_phone, has_email = rng.random() < 0.85, rng.random() < 0.8
        if not (has_phone or has_email):
            has_email = True
        contacts.append(
            ContactRecord(
                name=name,
                role=role,
                phone=phone if has_phone else "",
                email=f"{handle}@example.com" if has_email else "",
            )
        )
    return contacts


def _street(rng: random.Random, used: set[str]) -> str:
    while True:
        address = f"{rng.randint(2, 9899)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        if address not in used:
            used.add(address)
            return address


def generate_crm(*, seed: int = 7, today: date, listings_per_city: int = 50) -> CrmFixture:
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    contacts = _contacts(rng)
    by_role = {r: [c.name for c in contacts if c.role == r] for r in set(ROLES)}
    used_addresses: set[str] = set()
    listings, sales, slots = [], [], []
    mls_numbers = iter(rng.sample(range(10_000, 99_999), k=len(CITIES) * listings_per_city))
    for city, (state, median, utc_offset) in CITIES.items():
        zone = timezone(timedelta(hours=utc_offset))
        for _ in range(listings_per_city):
            beds = rng.choices([1, 2, 3, 4, 5, 6], weights=[6, 18, 36, 26, 10, 4])[0]
            sqft = int(rng.gauss(520 + beds * 430, 180)) // 10 * 10
            sqft = max(450, min(sqft, 6_500))
            price = _round_price(median * (sqft / 1_800) * rng.uniform(0.8, 1.25))
            baths = max(1.0, min(beds + rng.choice([-1, -0.5, 0, 0, 0.5]), 6.0))
            mls_id = f"{state}-{next(mls_numbers)}"
            status = rng.choices(["active", "pending", "sold"], weights=[75, 17, 8])[0]
            listing = ListingRecord(
                mls_id=mls_id,
                address=_street(rng, used_addresses),
                city=city,
                price=price,
                beds=beds,
                baths=baths,
                sqft=sqft,
                status=status,
                photo_url=f"https://photos.example.com/{mls_id.lower()}/front.jpg"
                if rng.random() < 0.7
                else "",
                agent=rng.choice(by_role["agent"]),
                seller=rng.choice(by_role["seller"]),
                buyers=tuple(sorted(rng.sample(by_role["buyer"], k=rng.randint(0, 2)))),
            )
            listings.append(listing)
            if status == "active":
                for day in sorted(rng.sample(range(1, 11), k=rng.randint(1, 3))):
                    hour = rng.choice([9, 10, 11, 13, 14, 15, 16, 17])
                    start = datetime.combine(
                        today + timedelta(days=day), time(hour, rng.choice([0, 30])), zone
                    )
                    slots.append(
                        SlotRecord(
                            mls_id=mls_id, start=start, minutes=rng.choice([15, 30, 30, 45, 60])
                        )
                    )
        for _ in range(listings_per_city * 3 // 2):
            sqft = max(600, int(rng.gauss(1_900, 600)) // 10 * 10)
            sales.append(
                SaleRecord(
                    address=_street(rng, used_addresses),
                    city=city,
                    sold_price=_round_price(median * (sqft / 1_800) * rng.uniform(0.85, 1.15)),
                    sold_date=today - timedelta(days=rng.randint(10, 330)),
                    sqft=sqft,
                )
            )
    return CrmFixture(contacts=contacts, listings=listings, sales=sales, slots=slots)
