"""A deterministic, realistic synthetic Alamara chain for the local cache.

``build_demo(db, sales=N, seed=S)`` fills a freshly migrated cache with:

- eight French stores (four with a Fine Jewelry department), their tills, SIRET
  numbers that pass the Luhn check and the company's intra-EU VAT number;
- the VAT rate table and the departments (the same codes as the test factories);
- staff per store; store 1 (Paris) has the codes the README promises
  (V001 / 1111 salesperson, B001 / 2222 jewelry specialist, M001 / 9999 manager);
  every demo salesperson's PIN is 1111, every jewelry specialist's 2222, every
  manager's 9999 (hashed with the real scrypt cost, in parallel with the sales);
- about 2,000 articles with valid EAN-13 codes, a price history (markdowns and
  price rises: a sale line keeps the price of its day, the catalogue has today's);
- customers (about one for eight sales) with French names, mobile numbers and
  e-mail addresses;
- ``N`` sales over the five years up to yesterday: store sales with receipt
  numbers (sequence per till and per local day, in time order), ~15 %
  AlamaraStore.com orders (shipping, packing slip, some international with
  duties), gift receipts, discounts, fine jewelry with unique serial numbers, and
  realistic tender mixes that add up exactly to each total.

Everything comes from ``random.Random(seed)``: the same seed (and the same
``today``) gives the same file, apart from the PIN salts. The sales are written
in chunks with ``executemany`` inside large transactions, with the secondary
indexes of the big tables dropped during the load and rebuilt at the end.
"""

from __future__ import annotations

import multiprocessing
import random
import secrets
import sqlite3
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate, chain
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlite_utils import Database
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva

from pos_returns.cache.db import set_meta
from pos_returns.engine.codes import ean13_check_digit, luhn_check_digit
from pos_returns.engine.normalize import fold, name_key
from pos_returns.errors import Conflict
from pos_returns.i18n import STORE_TZ, _
from pos_returns.journal.pins import (
    Pepper,
    create_pepper,
    forget_cached_peppers,
    hash_pin,
    load_pepper,
    pepper_path,
    seal_ok,
    seal_staff,
)

Progress = Callable[[int, int], None]
T = TypeVar("T")

YEARS = 5
CHUNK_SALES = 25_000
BIG_TABLES = ("customers", "sales", "sale_lines", "tenders")
# Indexes whose keys arrive in order (ids, dates): appending to them as the rows come
# is cheaper than sorting them again at the end.
KEEP_DURING_LOAD = frozenset({"sales_sold_at", "sale_lines_sale", "tenders_sale"})

DEMO_PINS = {"salesperson": "1111", "jewelry": "2222", "manager": "9999"}

VAT_RATES = [
    (2000, "TVA 20 %"),
    (1000, "TVA 10 %"),
    (550, "TVA 5,5 %"),
    (210, "TVA 2,1 %"),
]

DEPARTMENTS = [
    ("women", "Femme", "Women"),
    ("men", "Homme", "Men"),
    ("shoes", "Chaussures", "Shoes"),
    ("beauty", "Beauté", "Beauty"),
    ("occasion", "Robes de cérémonie", "Special-occasion dresses"),
    ("designer", "Créateurs", "Designer"),
    ("jewelry", "Joaillerie", "Fine jewelry"),
    ("gift_cards", "Cartes cadeaux", "Gift cards"),
]


def insert_vat_rates_and_departments(conn: sqlite3.Connection) -> None:
    """Write the VAT rate table and the departments (the demo and the test factories
    share them; call inside the caller's transaction)."""
    conn.executemany("INSERT INTO vat_rates(rate_bp, label) VALUES (?, ?)", VAT_RATES)
    conn.executemany(
        "INSERT INTO departments(code, name_fr, name_en) VALUES (?, ?, ?)", DEPARTMENTS
    )


# The company: one SIREN (Luhn-valid), one establishment (NIC) per store.
SIREN = "81234567" + luhn_check_digit("81234567")

# id, code, name, address, postcode, city, fine jewelry, latitude, longitude, tills, weight
STORES = [
    (1, "PAR", "Alamara Paris Haussmann", "40 boulevard Haussmann", "75009", "Paris",
     1, 48.8738, 2.3320, 6, 30),
    (2, "LYO", "Alamara Lyon Part-Dieu", "17 rue du Docteur Bouchut", "69003", "Lyon",
     0, 45.7610, 4.8570, 5, 14),
    (3, "MRS", "Alamara Marseille Saint-Ferréol", "53 rue Saint-Ferréol", "13001", "Marseille",
     0, 43.2936, 5.3781, 4, 11),
    (4, "BOD", "Alamara Bordeaux Sainte-Catherine", "91 rue Sainte-Catherine", "33000",
     "Bordeaux", 1, 44.8378, -0.5746, 4, 11),
    (5, "LIL", "Alamara Lille Grand-Place", "31 rue Neuve", "59800", "Lille",
     0, 50.6365, 3.0635, 4, 9),
    (6, "NCE", "Alamara Nice Masséna", "6 avenue Jean Médecin", "06000", "Nice",
     1, 43.6995, 7.2684, 3, 9),
    (7, "NTE", "Alamara Nantes Graslin", "2 rue Crébillon", "44000", "Nantes",
     0, 47.2135, -1.5612, 3, 8),
    (8, "SXB", "Alamara Strasbourg Kléber", "1 place Kléber", "67000", "Strasbourg",
     1, 48.5834, 7.7459, 3, 8),
]

LAST_NAMES = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
    "Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
    "Rousseau Vincent Muller Lefèvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier "
    "François Legrand Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel "
    "Mathieu Gautier Masson Marchand Duval Denis Dumont Lemaire Noël Meyer Dufour Meunier "
    "Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard "
    "Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine "
    "Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoît Rey Leclerc Payet Rolland "
    "Leclercq Guillaume Lecomte Lopez Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis "
    "Moulin Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Poirier "
    "Marty Aubry Guyot Carré Charpentier Ménard Maillard Baron Bertin Bailly Hervé Schneider "
    "Fernandez Collet Léger Bouvier Julien Prévost Millet Perrot Daniel Cousin Germain "
    "Breton Besson Langlois Rémy Pelletier Lévêque Perrier Leblanc Barré Lebrun Marchal "
    "Weber Mallet Hamon Boulanger Jacob Monnier Michaud Guichard Gillet Étienne Poulain "
    "Tessier Chauvin Bouchet Lemaître Humbert Reynaud Antoine Perret Barthélemy Cordier "
    "Pichon Lejeune Gilbert Lamy Delaunay Pasquier Carlier Laporte"
).split()
LAST_NAMES += ["Le Gall", "Le Roux", "Da Silva", "Le Goff", "De Oliveira", "Saint-Martin"]

WOMEN_FIRST = (
    "Marie Camille Léa Manon Chloé Emma Inès Sarah Julie Anne Sophie Isabelle Nathalie "
    "Catherine Hélène Claire Élodie Céline Aurélie Laura Pauline Mathilde Juliette Louise "
    "Alice Charlotte Clémence Margaux Lucie Anaïs Océane Zoé Jeanne Valérie Sandrine "
    "Christine Sylvie Françoise Martine Brigitte Agnès Delphine Virginie Émilie Caroline "
    "Stéphanie Audrey Mélanie Noémie Eva Léna Jade Rose Héloïse Victoire Constance Bérénice "
    "Agathe Apolline Ambre Anne-Sophie Marie-Claire"
).split()
MEN_FIRST = (
    "Thomas Nicolas Julien Antoine Pierre Alexandre Maxime Hugo Lucas Louis Paul Arthur "
    "Jules Gabriel Raphaël Léo Mathieu Guillaume Sébastien François Philippe Jean Michel "
    "Laurent Olivier Christophe Stéphane Éric Frédéric David Vincent Romain Benjamin Adrien "
    "Clément Victor Théo Baptiste Quentin Florian Jérôme Benoît Xavier Bruno Patrick Alain "
    "Gérard Bernard Yves Henri Étienne Matthieu Damien Cédric Grégoire Augustin Côme "
    "Timothée Noé Marius Jean-Baptiste Pierre-Louis"
).split()

EMAIL_DOMAINS = [
    ("gmail.com", 40), ("orange.fr", 15), ("hotmail.fr", 10), ("yahoo.fr", 8),
    ("free.fr", 7), ("sfr.fr", 5), ("outlook.fr", 5), ("laposte.net", 5),
    ("wanadoo.fr", 3), ("icloud.com", 2),
]

COLOURS = (
    "marine bordeaux camel écru kaki ivoire anthracite moutarde framboise émeraude sable "
    "caramel chocolat prune"
).split()

# department, SKU prefix, count, VAT, price range in cents, nouns, materials
_CLOTHES = {
    "women": ("FEM", 600, (2900, 39900), [
        "Robe", "Jupe", "Blouse", "Chemise", "Pull", "Cardigan", "Pantalon", "Jean",
        "Manteau", "Veste", "Trench", "Top", "T-shirt", "Combinaison", "Foulard",
        "Sac à main", "Ceinture", "Robe portefeuille", "Jupe plissée", "Tailleur",
    ], ["en soie", "en laine mérinos", "en coton bio", "en lin", "en cachemire", "en viscose",
        "en cuir", "en denim", "en velours", "en crêpe", "en tweed", "en maille"]),
    "men": ("HOM", 400, (2500, 49900), [
        "Chemise", "Costume", "Veste de costume", "Pantalon chino", "Pull", "Polo", "Blazer",
        "Cravate", "Manteau", "Parka", "Jean", "Sweat", "T-shirt", "Écharpe", "Ceinture",
        "Gilet",
    ], ["en coton", "en laine", "en lin", "en cachemire", "en flanelle", "en velours côtelé",
        "en soie", "en denim", "en popeline", "en tweed"]),
    "shoes": ("CHA", 300, (4900, 59900), [
        "Escarpins", "Mocassins", "Derbies", "Richelieus", "Bottines", "Baskets", "Sandales",
        "Ballerines", "Bottes", "Mules", "Espadrilles", "Boots",
    ], ["en cuir", "en daim", "en cuir verni", "en toile", "en veau velours", "en nubuck"]),
}
_STYLES = ["", "", "", "à rayures", "à pois", "à carreaux", "à fleurs", "à boutons",
           "à col V", "à col rond", "brodé main", "édition limitée"]

_BEAUTY = [
    ("Eau de parfum {} 50 ml", 6900, 14900), ("Eau de parfum {} 100 ml", 9900, 21900),
    ("Eau de toilette {} 100 ml", 4900, 11900), ("Crème hydratante {}", 2900, 9900),
    ("Sérum anti-âge {}", 4900, 18900), ("Rouge à lèvres {}", 2500, 4900),
    ("Mascara {}", 2200, 3900), ("Fond de teint {}", 3500, 6500),
    ("Palette de fards {}", 3900, 7900), ("Huile sèche {}", 2900, 5900),
    ("Coffret soin {}", 5900, 25000), ("Vernis à ongles {}", 1500, 2900),
]
_BEAUTY_LINES = ["Éclat", "Fleur d'Oranger", "Rose de Grasse", "Iris Poudré", "Néroli",
                 "Ambre Noir", "Vétiver", "Lumière", "Velours", "Pivoine", "Cèdre", "Jasmin"]
_OCCASION = ["Robe de cérémonie brodée", "Robe longue de soirée", "Robe de cocktail en dentelle",
             "Robe de bal en tulle", "Robe fourreau en satin", "Robe de gala pailletée",
             "Robe drapée en mousseline", "Robe de témoin en crêpe"]
_HOUSES = ["Maison Verlaine", "Atelier Delcourt", "Lorenzo Vitale", "Studio Aiko",
           "Hélène Marchetti", "Castel & Fils", "Nadia Orsini", "Maison Kerjean"]
_DESIGNER_ITEMS = ["Veste", "Manteau", "Sac", "Robe", "Blazer", "Tailleur", "Cape", "Trench"]
_JEWELS = ["Bague", "Collier", "Bracelet jonc", "Boucles d'oreilles", "Pendentif", "Alliance",
           "Solitaire", "Montre automatique", "Chaîne", "Broche"]
_METALS = ["or jaune 18 carats", "or blanc 18 carats", "or rose 18 carats", "platine",
           "argent massif et or"]
_STONES = ["", "et diamant", "et saphir", "et rubis", "et émeraude", "et perles de culture",
           "et diamants pavés", "et tanzanite"]
_BOOKS = ["Livre « L'élégance à la française »", "Livre « Un siècle de mode »",
          "Livre « Les secrets des parfumeurs »", "Livre « Joaillerie, l'art du détail »",
          "Livre « Paris, capitale du style »", "Livre « Le vestiaire idéal »",
          "Livre « Histoire de la haute couture »", "Livre « Carnets de créateurs »",
          "Livre « Le soulier, une passion »", "Livre « Maquillage, mode d'emploi »",
          "Livre « Dentelles et broderies »", "Livre « La robe noire »"]
GIFT_CARD_VALUES = [2500, 5000, 10000, 15000, 20000, 50000]

# How a line is spread over departments (jewelry only where it may be sold).
DEPT_WEIGHTS = {"women": 30, "men": 17, "shoes": 13, "beauty": 20, "occasion": 4,
                "designer": 5, "jewelry": 3, "gift_cards": 3, "books": 1}
LINES_PER_SALE = [(1, 52), (2, 26), (3, 12), (4, 6), (5, 3), (6, 1)]
STORE_TENDERS = [("card", 60), ("cash", 15), ("gift_card", 5), ("notes", 4),
                 ("card+gift_card", 10), ("card+notes", 6)]
ONLINE_TENDERS = [("card", 84), ("gift_card", 4), ("card+gift_card", 9), ("card+notes", 3)]
CARD_BRANDS = [("CB", 45), ("VISA", 30), ("MASTERCARD", 20), ("AMEX", 5)]
DISCOUNTS = [(10, 25), (20, 30), (30, 25), (40, 10), (50, 10)]
CASH_CEILING = 100_000  # French law: no cash payment above 1 000 € for residents


@dataclass(frozen=True)
class DemoStats:
    stores: int
    tills: int
    staff: int
    products: int
    customers: int
    sales: int
    sale_lines: int
    tenders: int
    rows: int  # every row written, all tables
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Product:
    sku: str
    ean: str
    name: str
    department: str
    vat_bp: int
    prices: list[int]  # list price per quarter, oldest first; the last one is today's
    tag: int = 0
    jewel: int = 0
    gift: int = 0


def siret_for(nic_body: str) -> str:
    """SIREN + a 4-digit establishment number + the digit that makes all 14 Luhn-valid."""
    return fr_siret.validate(SIREN + nic_body + luhn_check_digit(SIREN + nic_body))


def vat_number(siren: str = SIREN) -> str:
    """French intra-EU VAT number: FR + key (12 + 3 × (SIREN mod 97)) mod 97 + SIREN,
    checked by python-stdnum."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return "FR" + fr_tva.validate(f"FR{key:02d}{siren}")  # validate() drops the "FR"


def _round_price(cents: int) -> int:
    """Shelf prices end in ,90 below 100 €, in whole euros up to 1 000 €, in tens above."""
    if cents < 10_000:
        return max(490, (cents // 100) * 100 + 90)
    if cents < 100_000:
        return (cents // 100) * 100
    return (cents // 1_000) * 1_000


def _price_history(rng: random.Random, base: int, quarters: int, lo: int, hi: int) -> list[int]:
    """A list price per quarter: mostly stable, some rises, some markdowns, within lo..hi."""
    prices = [base]
    price = base
    for _q in range(quarters - 1):
        r = rng.random()
        if r < 0.12:  # price rise
            price = _round_price(price * (103 + rng.randrange(10)) // 100)
        elif r < 0.20:  # permanent markdown
            price = _round_price(price * (70 + rng.randrange(21)) // 100)
        if not lo <= price <= hi:  # back to where it started
            price = base
        prices.append(price)
    if prices[-1] == prices[0]:  # most of the catalogue changed price at least once
        if rng.random() < 0.7:
            prices[-1] = min(hi, _round_price(prices[-1] * (105 + rng.randrange(10)) // 100))
    return prices


def _catalogue(rng: random.Random, quarters: int) -> list[_Product]:
    products: list[_Product] = []
    ean_counter = iter(range(100_000, 999_999))

    def add(prefix: str, n: int, name: str, dept: str, vat: int, base: int,
            bounds: tuple[int, int] = (490, 10_000_000), **flags: int) -> None:
        body = "376" + f"{next(ean_counter):09d}"
        prices = (
            [base] * quarters if flags.get("gift")
            else _price_history(rng, base, quarters, *bounds)
        )
        products.append(_Product(f"{prefix}-{n:05d}", body + ean13_check_digit(body), name,
                                 dept, vat, prices, **flags))

    def price_in(lo: int, hi: int) -> int:
        # Log-uniform: many affordable items, fewer expensive ones.
        return _round_price(int(lo * (hi / lo) ** rng.random()))

    for dept, (prefix, count, (lo, hi), nouns, materials) in _CLOTHES.items():
        for n in range(1, count + 1):
            parts = [rng.choice(nouns), rng.choice(materials), rng.choice(_STYLES),
                     rng.choice(COLOURS)]
            add(prefix, n, " ".join(p for p in parts if p), dept, 2000, price_in(lo, hi))
    for n in range(1, 301):
        pattern, lo, hi = rng.choice(_BEAUTY)
        add("BEA", n, pattern.format(rng.choice(_BEAUTY_LINES)), "beauty", 2000,
            price_in(lo, hi))
    for n in range(1, 121):
        add("CER", n, f"{rng.choice(_OCCASION)} {rng.choice(COLOURS)}", "occasion", 2000,
            price_in(29_000, 250_000), tag=1)
    for n in range(1, 151):
        add("CRE", n, f"{rng.choice(_DESIGNER_ITEMS)} {rng.choice(_HOUSES)} "
            f"{rng.choice(COLOURS)}", "designer", 2000, price_in(45_000, 450_000), tag=1)
    for n in range(1, 101):
        name = " ".join(p for p in (rng.choice(_JEWELS), rng.choice(_METALS),
                                    rng.choice(_STONES)) if p)
        add("JOA", n, name, "jewelry", 2000, price_in(30_000, 1_400_000),
            bounds=(30_000, 1_500_000), jewel=1)
    for n, value in enumerate(GIFT_CARD_VALUES, 1):
        add("CAD", n, f"Carte cadeau Alamara {value // 100} €", "gift_cards", 2000, value,
            gift=1)
    for n, title in enumerate(_BOOKS, 1):
        add("LIV", n, title, "women", 550, price_in(1_500, 6_000))
    return products


def _weighted(items: list[tuple[T, int]]) -> tuple[list[T], list[int]]:
    return [i for i, _w in items], list(accumulate(w for _i, w in items))


def _daily_weights(days: list[date]) -> list[int]:
    weekday = [80, 85, 100, 95, 110, 160, 45]
    month = [120, 80, 90, 95, 100, 100, 115, 90, 95, 100, 115, 165]
    first = days[0]
    out = []
    for d in days:
        if (d.month, d.day) in ((1, 1), (5, 1), (12, 25)):
            out.append(0)
            continue
        trend = 100 + (d - first).days * 10 // 365  # the chain grows 10 % a year
        w = weekday[d.weekday()] * month[d.month - 1] * trend
        if d.month == 12 and d.day >= 15:  # Christmas shopping
            w = w * 3 // 2
        out.append(w)
    return out


def _apportion(total: int, weights: list[int]) -> list[int]:
    wsum = sum(weights)
    base = [total * w // wsum for w in weights]
    rest = total - sum(base)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in order[:rest]:
        base[i] += 1
    return base


def _discount_chance(d: date) -> float:
    if (d.month == 1 and d.day >= 8) or (d.month == 2 and d.day <= 5):
        return 0.40  # winter sales
    if (d.month == 6 and d.day >= 24) or (d.month == 7 and d.day <= 25):
        return 0.40  # summer sales
    if d.month == 11 and 22 <= d.day <= 30:
        return 0.25  # Black Friday week
    return 0.07


class _Builder:
    def __init__(self, db: Database, *, sales: int, seed: int, today: date) -> None:
        self.db = db
        self.conn = db.conn
        self.n_sales = sales
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_customers = 0
        self.ctx: dict[str, Any] = {}
        self.today = today
        self.rows = 0
        self.counts: dict[str, int] = {}

    # -- reference data ---------------------------------------------------------------

    def write_reference(self) -> None:
        ex = self.conn.executemany
        insert_vat_rates_and_departments(self.conn)
        stores = []
        for s in STORES:
            sid = s[0]
            stores.append((sid, s[1], s[2], s[3], s[4], s[5], siret_for(f"{sid * 10:04d}"),
                           vat_number(), s[6], s[7], s[8]))
        ex("INSERT INTO stores(id, code, name, address, postcode, city, siret, vat_number, "
           "has_fine_jewelry, latitude, longitude) VALUES (?,?,?,?,?,?,?,?,?,?,?)", stores)
        tills = [(s[0], t, f"Caisse {t}") for s in STORES for t in range(1, s[9] + 1)]
        ex("INSERT INTO tills(store_id, till_no, label) VALUES (?, ?, ?)", tills)
        self.rows += len(VAT_RATES) + len(DEPARTMENTS) + len(stores) + len(tills)
        self.counts.update(stores=len(stores), tills=len(tills))

    def plan_staff(self) -> list[tuple[int, str, str, str, int]]:
        """(id, code, name, role, store) — store 1 has V001, B001, M001 (the README's)."""
        rng = self.rng
        staff = []
        sid_counter = 1
        for s in STORES:
            store_id, jewelry = s[0], s[6]
            prefix = f"{store_id % 10}0" if store_id > 1 else "00"  # V001, V201, M201, B401…
            roles = [("V", "salesperson", 1)]
            if s[9] >= 5:  # the big stores have a second salesperson on the system
                roles.append(("V", "salesperson", 2))
            if jewelry:
                roles.append(("B", "jewelry", 1))
            roles.append(("M", "manager", 1))
            for letter, role, n in roles:
                code = f"{letter}{prefix}{n}"
                first = rng.choice(WOMEN_FIRST if rng.random() < 0.6 else MEN_FIRST)
                staff.append((sid_counter, code, f"{first} {rng.choice(LAST_NAMES)}", role,
                              store_id))
                sid_counter += 1
        return staff

    def write_products(self, products: list[_Product]) -> None:
        self.conn.executemany(
            "INSERT INTO products(sku, ean, name, department, vat_rate_bp, current_price, "
            "return_tag_required, fine_jewelry, gift_card) VALUES (?,?,?,?,?,?,?,?,?)",
            [(p.sku, p.ean, p.name, p.department, p.vat_bp, p.prices[-1], p.tag, p.jewel,
              p.gift) for p in products],
        )
        self.rows += len(products)
        self.counts["products"] = len(products)

    def make_customers(self, n: int, rng: random.Random) -> list[tuple]:
        ln_w = list(accumulate(1000 // (i + 8) for i in range(len(LAST_NAMES))))
        wf_w = list(accumulate(1000 // (i + 6) for i in range(len(WOMEN_FIRST))))
        mf_w = list(accumulate(1000 // (i + 6) for i in range(len(MEN_FIRST))))
        lasts = rng.choices(LAST_NAMES, cum_weights=ln_w, k=n)
        womens = rng.choices(WOMEN_FIRST, cum_weights=wf_w, k=n)
        mens = rng.choices(MEN_FIRST, cum_weights=mf_w, k=n)
        domains = [d for d, _w in EMAIL_DOMAINS]
        dom_w = list(accumulate(w for _d, w in EMAIL_DOMAINS))
        doms = rng.choices(domains, cum_weights=dom_w, k=n)
        folded: dict[tuple[str, str], tuple[str, str]] = {}
        seen_email: dict[str, int] = {}
        rows = []
        rand = rng.random
        for i in range(n):
            first = womens[i] if rand() < 0.65 else mens[i]
            last = lasts[i]
            phone = ""
            if rand() < 0.9:
                phone = f"0{6 if rand() < 0.7 else 7}{int(rand() * 100_000_000):08d}"
            keys = folded.get((first, last))
            if keys is None:
                keys = (name_key(first, last),
                        fold(f"{first}.{last}").replace(" ", "").replace("'", ""))
                folded[first, last] = keys
            email = ""
            if rand() < 0.85:
                local = keys[1]
                n_seen = seen_email.get(local, 0) + 1
                seen_email[local] = n_seen
                email = f"{local}@{doms[i]}" if n_seen == 1 else f"{local}{n_seen}@{doms[i]}"
            rows.append((i + 1, f"AL{i + 1:08d}", first, last, keys[0], phone, email))
        return rows

    # -- sales ------------------------------------------------------------------------

    def prepare(self, products: list[_Product], n_customers: int,
                staff: list[tuple[int, str, str, str, int]]) -> list[object]:
        """Everything the chunks share (drawn from the main random stream), and the tasks:
        "customers", then chunk 0, 1, 2… — each task with its own random stream, so that
        the tasks can run in any process and still give the same rows."""
        rng = self.rng
        rand = rng.random
        choices = rng.choices
        self.n_customers = n_customers
        start = self.today - timedelta(days=365 * YEARS + 1)
        days = [start + timedelta(days=i) for i in range((self.today - start).days)]
        per_day = _apportion(self.n_sales, _daily_weights(days))
        # Chunks of whole days, about CHUNK_SALES sales each: (first day, end day,
        # first sale id, sales done at its end).
        chunks: list[tuple[int, int, int, int]] = []
        first_day, first_id, done = 0, 1, 0
        for day_index, n in enumerate(per_day):
            done += n
            if done - first_id + 1 >= CHUNK_SALES or day_index == len(per_day) - 1:
                chunks.append((first_day, day_index + 1, first_id, done))
                first_day, first_id = day_index + 1, done + 1

        # Product pools by department, with a skew: some articles sell far more.
        by_dept: dict[str, list[int]] = {}
        for i, prod in enumerate(products):
            dept = "books" if prod.sku.startswith("LIV") else prod.department
            by_dept.setdefault(dept, []).append(i)
        pool: list[int] = []
        pool_w: list[int] = []
        for dept, idxs in by_dept.items():
            dw = DEPT_WEIGHTS[dept]
            ranks = [1000 // (r + 5) for r in range(len(idxs))]
            rs = sum(ranks)
            for i, w in zip(idxs, ranks, strict=True):
                pool.append(i)
                pool_w.append(max(1, dw * w * 1_000_000 // rs))
        pool_cum = list(accumulate(pool_w))
        non_jewel = [i for i in pool if not products[i].jewel]
        nj_cum = list(accumulate(w for i, w in zip(pool, pool_w, strict=True)
                                 if not products[i].jewel))

        p_sku = [p.sku for p in products]
        p_vat = [p.vat_bp for p in products]
        p_prices = [p.prices for p in products]
        p_jewel = [p.jewel for p in products]
        p_gift = [p.gift for p in products]
        p_beauty = [p.department == "beauty" for p in products]

        store_ids = [s[0] for s in STORES]
        store_cum = list(accumulate(s[10] for s in STORES))
        store_tills = {s[0]: s[9] for s in STORES}
        jewel_stores = {s[0] for s in STORES if s[6]}
        jewel_store_list = sorted(jewel_stores)
        sellers: dict[int, list[int]] = {}
        jewel_staff: dict[int, int] = {}
        for sid, _code, _name, role, store in staff:
            if role == "salesperson":
                sellers.setdefault(store, []).append(sid)
            elif role == "jewelry":
                jewel_staff[store] = sid

        n_lines_vals, n_lines_cum = _weighted(LINES_PER_SALE)
        st_vals, st_cum = _weighted(STORE_TENDERS)
        on_vals, on_cum = _weighted(ONLINE_TENDERS)
        disc_vals, disc_cum = _weighted(DISCOUNTS)
        brand_vals, brand_cum = _weighted(CARD_BRANDS)

        # Cards: one or two per customer (reused across their sales), and a pool for
        # shoppers without an account.
        last4s = [f"{i:04d}" for i in range(10_000)]
        n_cards = n_customers * 3 // 2 + max(1_000, self.n_sales // 4)
        card_brand = choices(brand_vals, cum_weights=brand_cum, k=n_cards)
        card_last4 = [last4s[int(rand() * 10_000)] for _i in range(n_cards)]
        getrandbits = rng.getrandbits
        card_fp = [f"{getrandbits(64):016x}" for _i in range(n_cards)]
        cust_cards = n_customers * 3 // 2
        anon_cards = n_cards - cust_cards
        hms = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86_400)]
        self.ctx = dict(
            days=days, per_day=per_day, chunks=chunks, pool=pool, pool_cum=pool_cum,
            non_jewel=non_jewel, nj_cum=nj_cum, p_sku=p_sku, p_vat=p_vat, p_prices=p_prices,
            p_jewel=p_jewel, p_gift=p_gift, p_beauty=p_beauty, store_ids=store_ids,
            store_cum=store_cum, store_tills=store_tills, jewel_stores=jewel_stores,
            jewel_store_list=jewel_store_list, sellers=sellers, jewel_staff=jewel_staff,
            n_lines_vals=n_lines_vals, n_lines_cum=n_lines_cum, st_vals=st_vals, st_cum=st_cum,
            on_vals=on_vals, on_cum=on_cum, disc_vals=disc_vals, disc_cum=disc_cum,
            card_brand=card_brand, card_last4=card_last4, card_fp=card_fp,
            cust_cards=cust_cards, anon_cards=anon_cards, hms=hms,
        )
        return ["customers", *range(len(chunks))]

    def run_task(self, task: object) -> tuple:
        if task == "customers":
            rng = random.Random(f"{self.seed}/customers")
            return ("customers", _pack(self.make_customers(self.n_customers, rng)))
        assert isinstance(task, int)
        return self.sales_chunk(task)

    def sales_chunk(self, index: int) -> tuple:
        """("sales", sales, lines, tenders, done) for the days of chunk ``index``, drawn
        day after day from the chunk's own random stream."""
        c = self.ctx
        rng = random.Random(f"{self.seed}/{index}")
        first_day, end_day, first_id, done = c["chunks"][index]
        days: list[date] = c["days"]
        per_day: list[int] = c["per_day"]
        p_prices: list[list[int]] = c["p_prices"]
        sales_rows: list[tuple] = []
        line_rows: list[tuple] = []
        tender_rows: list[tuple] = []
        parts = _SaleParts(
            lines=_lines_writer(c, rng, line_rows),
            online=_online_order_writer(c, rng, self.n_customers, sales_rows),
            store=_store_sale_writer(c, rng, self.n_customers, sales_rows),
            tenders=_tenders_writer(c, rng, tender_rows),
        )
        quarter = -1
        prices_now: list[int] = []
        sale_id = first_id - 1
        for day_index in range(first_day, end_day):
            n = per_day[day_index]
            if not n:
                continue
            if day_index // 91 != quarter:  # the list prices change by quarter
                quarter = day_index // 91
                prices_now = [pr[quarter] for pr in p_prices]
            sale_id = _sales_of_day(c, rng, parts, days[day_index], n, sale_id, prices_now)
        assert sale_id == done
        return ("sales", _pack(sales_rows), _pack(line_rows), _pack(tender_rows), done)


# -- the sales of a chunk -------------------------------------------------------------------
#
# The hot loop. Per sale: the lines (:func:`_lines_writer`), the sale row (an online order or
# a store sale), the tenders. Each part is a closure made once per chunk, so the tables it
# reads are bound once (no dictionary or attribute look-up per sale) and a sale costs three
# calls with a few arguments. The order of the random draws is the data: keep it.

LinesOfSale = Callable[[int, str, list[int], int, int, object, list[int], float, str],
                       tuple[int, bool]]
OnlineOrder = Callable[[int, str, int, bool, int], tuple[int, int]]
StoreSale = Callable[[int, str, int, bool, int, dict[tuple[int, int], int], str],
                     tuple[int, int | None]]
TendersOfSale = Callable[[int, int, int | None, int], None]


class _SaleParts(NamedTuple):
    lines: LinesOfSale
    online: OnlineOrder
    store: StoreSale
    tenders: TendersOfSale


def _day_moments(rand: Callable[[], float], n: int, sunday: bool) -> list[tuple[int, int]]:
    """(local second, online?) of the day's ``n`` sales in time order: 15 % web orders
    from 06:00 to midnight, the others in opening hours (10:00-20:00, Sunday 11:00-19:00)."""
    moments = []
    for _i in range(n):
        if rand() < 0.15:
            moments.append((21_600 + int(rand() * 64_800), 1))  # 06:00-24:00
        elif sunday:
            moments.append((39_600 + int(rand() * 28_800), 0))  # 11:00-19:00
        else:
            moments.append((36_000 + int(rand() * 36_000), 0))  # 10:00-20:00
    moments.sort()
    return moments


def _sales_of_day(c: dict[str, Any], rng: random.Random, parts: _SaleParts, day: date, n: int,
                  sale_id: int, prices_now: list[int]) -> int:
    """The ``n`` sales of ``day``, ids from ``sale_id + 1`` in time order, appended by the
    parts; returns the last id."""
    choices = rng.choices
    hms: list[str] = c["hms"]
    jewel_stores: set[int] = c["jewel_stores"]
    lines_of_sale, online_order, store_sale, tenders_of_sale = parts
    offset = int(datetime(day.year, day.month, day.day, 12, tzinfo=STORE_TZ)
                 .utcoffset().total_seconds())  # type: ignore[union-attr]
    day_prefix = day.isoformat()
    ymd = f"{day:%y%m%d}"
    yy = ymd[:2]
    disc_p = _discount_chance(day)
    moments = _day_moments(rng.random, n, sunday=day.weekday() == 6)
    stores_pick = choices(c["store_ids"], cum_weights=c["store_cum"], k=n)
    nlines_pick = choices(c["n_lines_vals"], cum_weights=c["n_lines_cum"], k=n)
    prod_pick = choices(c["pool"], cum_weights=c["pool_cum"], k=sum(nlines_pick))
    seq: dict[tuple[int, int], int] = {}  # receipt sequence per (store, till), this day
    k = 0  # the sale's first product in prod_pick
    for i in range(n):
        local_sec, online = moments[i]
        sale_id += 1
        sold_at = day_prefix + hms[local_sec - offset]
        store = stores_pick[i]
        n_lines = nlines_pick[i]
        merch, has_jewel = lines_of_sale(sale_id, sold_at, prod_pick, k, n_lines,
                                         online or store in jewel_stores, prices_now, disc_p, yy)
        k += n_lines
        if online:
            total, customer = online_order(sale_id, sold_at, store, has_jewel, merch)
        else:
            total, customer = store_sale(sale_id, sold_at, store, has_jewel, merch, seq, ymd)
        tenders_of_sale(sale_id, total, customer, online)
    return sale_id


def _lines_writer(c: dict[str, Any], rng: random.Random, line_rows: list[tuple]) -> LinesOfSale:
    """The lines of one sale, appended to ``line_rows``; returns (merchandise, has a jewel)."""
    rand = rng.random
    append = line_rows.append
    p_sku, p_vat = c["p_sku"], c["p_vat"]
    p_jewel, p_gift, p_beauty = c["p_jewel"], c["p_gift"], c["p_beauty"]
    non_jewel, nj_cum = c["non_jewel"], c["nj_cum"]
    disc_vals, disc_cum = c["disc_vals"], c["disc_cum"]
    nj_all, disc_all = nj_cum[-1], disc_cum[-1]

    def lines_of_sale(sale_id: int, sold_at: str, picks: list[int], k: int, n_lines: int,
                      may_jewel: object, prices_now: list[int], disc_p: float,
                      yy: str) -> tuple[int, bool]:
        """``n_lines`` articles from ``picks[k:]``: a jewel becomes another article where
        none may be sold; jewels are unique (a serial number) and seldom discounted;
        beauty goes by two or three; the day's discounts on the rest."""
        merch = 0
        has_jewel = False
        for line_no in range(1, n_lines + 1):
            p = picks[k]
            k += 1
            if p_jewel[p] and not may_jewel:
                p = non_jewel[bisect_right(nj_cum, rand() * nj_all)]
            list_price = prices_now[p]
            qty = 1
            serial = ""
            unit = list_price
            if p_jewel[p]:
                has_jewel = True
                serial = f"AJ{yy}{sale_id:08d}{line_no}"  # unique
                if rand() < 0.03:
                    unit = list_price * 9 // 10 // 100 * 100
            elif not p_gift[p]:
                if p_beauty[p] and rand() < 0.25:
                    qty = 2 if rand() < 0.8 else 3
                if rand() < disc_p:
                    pct = disc_vals[bisect_right(disc_cum, rand() * disc_all)]
                    unit = list_price * (100 - pct) // 100 // 10 * 10
            merch += qty * unit
            append((sale_id, line_no, p_sku[p], qty, unit, list_price, p_vat[p], serial,
                    sold_at))
        return merch, has_jewel

    return lines_of_sale


def _online_order_writer(c: dict[str, Any], rng: random.Random, n_customers: int,
                         sales_rows: list[tuple]) -> OnlineOrder:
    """The row of one AlamaraStore.com order, appended to ``sales_rows``."""
    rand = rng.random
    append = sales_rows.append
    jewel_store_list: list[int] = c["jewel_store_list"]
    n_jewel_stores = len(jewel_store_list)

    def online_order(sale_id: int, sold_at: str, store: int, has_jewel: bool,
                     merch: int) -> tuple[int, int]:
        """A customer's order (a jewel ships from a jewelry store), shipping (free from
        100 €, some express, 10 % abroad with duties), order and packing slip numbers;
        returns (total, customer)."""
        if has_jewel:
            store = jewel_store_list[int(rand() * n_jewel_stores)]
        customer = 1 + int(rand() ** 1.6 * n_customers)
        shipping = duties = international = 0
        if rand() < 0.10:
            international = 1
            shipping = 2500 + 500 * int(rand() * 5)
            duties = merch * (8 + int(rand() * 17)) // 100
        elif merch < 10_000:
            shipping = 590
        elif rand() < 0.10:
            shipping = 1290  # express
        order_no = 200_000_000 + 7 * sale_id + int(rand() * 7)  # unique, growing
        total = merch + shipping + duties
        gift = 1 if rand() < 0.05 else 0
        append((sale_id, None, f"W{order_no}", "online", store, 0, sold_at, customer, None,
                international, gift, merch, shipping, duties, total, f"BL{order_no}"))
        return total, customer

    return online_order


def _store_sale_writer(c: dict[str, Any], rng: random.Random, n_customers: int,
                       sales_rows: list[tuple]) -> StoreSale:
    """The row of one sale at a store's till, appended to ``sales_rows``."""
    rand = rng.random
    append = sales_rows.append
    store_tills: dict[int, int] = c["store_tills"]
    sellers: dict[int, list[int]] = c["sellers"]
    jewel_staff: dict[int, int] = c["jewel_staff"]

    def store_sale(sale_id: int, sold_at: str, store: int, has_jewel: bool, merch: int,
                   seq: dict[tuple[int, int], int], ymd: str) -> tuple[int, int | None]:
        """A till, the receipt number (the till's next of the day), a customer account
        for 45 %, the jewelry specialist for a jewel; returns (total, customer)."""
        customer = 1 + int(rand() ** 1.6 * n_customers) if rand() < 0.45 else None
        till = 1 + int(rand() * store_tills[store])
        key = (store, till)
        s = seq.get(key, 0) + 1
        seq[key] = s
        body = f"{store:03d}{till:02d}{ymd}{s:04d}"
        receipt = f"{body}{98 - int(body) * 100 % 97:02d}"  # codes.mod97_check
        if has_jewel and store in jewel_staff:
            staff_id = jewel_staff[store]
        else:
            group = sellers[store]
            staff_id = group[int(rand() * len(group))]
        gift = 1 if rand() < 0.05 else 0
        append((sale_id, receipt, None, "store", store, till, sold_at, customer, staff_id, 0,
                gift, merch, 0, 0, merch, ""))
        return merch, customer

    return store_sale


def _tenders_writer(c: dict[str, Any], rng: random.Random,
                    tender_rows: list[tuple]) -> TendersOfSale:
    """The tenders of one sale, appended to ``tender_rows``: they add up to its total."""
    rand = rng.random
    getrandbits = rng.getrandbits
    append = tender_rows.append
    st_vals, st_cum, on_vals, on_cum = c["st_vals"], c["st_cum"], c["on_vals"], c["on_cum"]
    st_all, on_all = st_cum[-1], on_cum[-1]
    card_brand, card_last4, card_fp = c["card_brand"], c["card_last4"], c["card_fp"]
    cust_cards, anon_cards = c["cust_cards"], c["anon_cards"]

    def tenders_of_sale(sale_id: int, total: int, customer: int | None, online: int) -> None:
        """A tender mix (no cash online nor above the legal ceiling, gift card or store
        credit notes then card for the rest); a customer mostly pays with their own card."""
        if online:
            mix = on_vals[bisect_right(on_cum, rand() * on_all)]
        else:
            mix = st_vals[bisect_right(st_cum, rand() * st_all)]
            if mix == "cash" and total > CASH_CEILING:
                mix = "card"
        if mix == "notes" and total > 5_000:
            mix = "card+notes"
        parts: list[tuple[str, int]]
        if mix == "card+gift_card":
            gc = GIFT_CARD_VALUES[int(rand() * 5)]
            if total - gc >= 100:
                parts = [("gift_card", gc), ("card", total - gc)]
            else:
                parts = [("gift_card", total)]
        elif mix == "card+notes":
            notes = 500 * (1 + int(rand() * 6))
            if total - notes >= 100:
                parts = [("notes", notes), ("card", total - notes)]
            else:
                parts = [("card", total)]
        else:
            parts = [(mix, total)]
        for kind, amount in parts:
            if kind == "card":
                if customer is not None and rand() < 0.8:  # one of the customer's cards
                    ci = (customer - 1) * 3 // 2 + (1 if rand() < 0.3 else 0)
                    ci = min(ci, cust_cards - 1)
                else:
                    ci = cust_cards + int(rand() * anon_cards)
                append((sale_id, "card", amount, card_last4[ci], card_fp[ci], card_brand[ci],
                        ""))
            elif kind == "gift_card":
                gbody = f"63{getrandbits(50) % 10**16:016d}"
                append((sale_id, "gift_card", amount, "", "", "", gbody + luhn_check_digit(gbody)))
            else:
                append((sale_id, kind, amount, "", "", "", ""))

    return tenders_of_sale


def _hash_staff(staff: list[tuple[int, str, str, str, int]], pepper: Pepper) -> list[tuple]:
    def one(row: tuple[int, str, str, str, int]) -> tuple:
        sid, code, name, role, store = row
        pin_hash = hash_pin(DEMO_PINS[role], pepper)
        seal = seal_staff({"id": sid, "code": code, "name": name, "role": role,
                           "store_id": store,
                           "active": 1, "pin_hash": pin_hash}, pepper)
        return (sid, code, name, role, store, pin_hash, 1, seal)

    # hashlib.scrypt releases the GIL: two threads hash while the sales are written.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, staff))


def _tasks_inline(b: _Builder, tasks: list[object]) -> Iterator[tuple]:
    for task in tasks:
        yield b.run_task(task)


def _tasks_in_children(b: _Builder, tasks: list[object], workers: int) -> Iterator[tuple]:
    """Run the tasks in ``workers`` forked processes (task i in worker i % workers), and
    yield their results in task order: the same rows as inline, generated while the
    previous chunk is being written."""
    ctx = multiprocessing.get_context("fork")
    queues = [ctx.Queue(maxsize=2) for _w in range(workers)]

    def work(w: int) -> None:
        try:
            for task in tasks[w::workers]:
                queues[w].put(b.run_task(task))
        except BaseException as exc:  # pragma: no cover - reported to the parent
            queues[w].put(("error", repr(exc)))

    procs = [ctx.Process(target=work, args=(w,), daemon=True) for w in range(workers)]
    for proc in procs:
        proc.start()
    try:
        for i in range(len(tasks)):
            result = queues[i % workers].get()
            if result[0] == "error":  # pragma: no cover
                raise RuntimeError(f"demo generator failed: {result[1]}")
            yield result
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():  # pragma: no cover
                proc.terminate()


_SALES_SQL = (
    "INSERT INTO sales(id, receipt_number, order_number, channel, store_id, till_no, sold_at, "
    "customer_id, staff_id, international, gift_receipt, merchandise, shipping, duties, total, "
    "packing_slip) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_LINES_SQL = (
    "INSERT INTO sale_lines(sale_id, line_no, sku, quantity, unit_price, list_price, "
    "vat_rate_bp, serial_number, sold_at) VALUES (?,?,?,?,?,?,?,?,?)"
)
_TENDERS_SQL = (
    "INSERT INTO tenders(sale_id, kind, amount, card_last4, card_fingerprint, card_brand, "
    "gift_card_number) VALUES (?,?,?,?,?,?,?)"
)
_CUSTOMERS_SQL = (
    "INSERT INTO customers(id, account_number, first_name, last_name, name_key, phone, email) "
    "VALUES (?,?,?,?,?,?,?)"
)
ROWS_PER_INSERT = 50  # rows per INSERT … VALUES (…), (…): half the cost of one row a statement
PARALLEL_FROM = 100_000  # below this many sales, other processes are not worth it
GENERATORS = 2  # processes generating chunks while this one writes


Packed = tuple[list[tuple], list[tuple], int]


def _pack(rows: list[tuple], k: int = ROWS_PER_INSERT) -> Packed:
    """Rows -> (flat tuples of k rows each, the rows left over, how many rows)."""
    n = len(rows)
    full = n - n % k
    flat = [tuple(chain.from_iterable(rows[i:i + k])) for i in range(0, full, k)]
    return flat, rows[full:], n


_MULTI: dict[str, str] = {}


def _write(conn: sqlite3.Connection, sql: str, packed: Packed) -> int:
    flat, rest, n = packed
    if flat:
        multi = _MULTI.get(sql)
        if multi is None:
            values = sql[sql.rindex("("):]
            multi = _MULTI[sql] = sql + ("," + values) * (ROWS_PER_INSERT - 1)
        conn.executemany(multi, flat)
    if rest:
        conn.executemany(sql, rest)
    return n


def build_demo(db: Database, *, sales: int, seed: int, progress: Progress | None = None,
               today: date | None = None, parallel: bool | None = None,
               pepper: Pepper | None = None) -> DemoStats:
    """Fill an empty, migrated cache with a synthetic chain of ``sales`` sales.

    ``today`` (default: the local date) is the day after the last sale; with the same
    ``seed`` and ``today`` the data is identical. ``progress(done, total)`` is called
    after each chunk of sales. ``parallel`` (default: from 100,000 sales, where ``fork``
    exists) generates in a second process. Staff PINs and seals use ``pepper`` (the
    tills' chain pepper; none: a throwaway one, no till logs them in)."""
    if sales < 0:
        raise ValueError("sales must be >= 0")
    if db.conn.execute("SELECT EXISTS (SELECT 1 FROM stores)").fetchone()[0]:
        raise Conflict(_("This cache already holds a chain; start from an empty file."),
                       code="demo_not_empty")
    if parallel is None:
        parallel = sales >= PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods()
    started = time.perf_counter()
    pepper = pepper or Pepper(secrets.token_bytes(32))
    today = today or datetime.now(STORE_TZ).date()
    b = _Builder(db, sales=sales, seed=seed, today=today)
    conn = db.conn
    quarters = ((365 * YEARS + 1) // 91) + 2

    # Bulk-load settings, restored at the end.
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    # Write straight into the file rather than through the WAL (which would be copied
    # into it again at the checkpoint); back to WAL at the end.
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if journal == "wal":
        try:
            conn.execute("PRAGMA journal_mode = MEMORY")
        except sqlite3.OperationalError:  # another connection is open: stay in WAL
            pass
    # Secondary indexes and triggers of the big tables are dropped during the load
    # (the loader fills sale_lines.sold_at itself) and recreated from their own SQL.
    indexes = [row for row in conn.execute(
        "SELECT name, sql, type FROM sqlite_master WHERE type IN ('index', 'trigger') "
        f"AND sql IS NOT NULL AND tbl_name IN ({','.join('?' * len(BIG_TABLES))})", BIG_TABLES,
    ).fetchall() if row[0] not in KEEP_DURING_LOAD]
    n_customers = max(10, sales // 8)
    hashed: list[tuple] = []
    n_lines = n_tenders = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, _sql, kind in indexes:
            conn.execute(f'DROP {kind.upper()} "{name}"')
        b.write_reference()
        products = _catalogue(b.rng, quarters)
        b.write_products(products)
        staff = b.plan_staff()
        tasks = b.prepare(products, n_customers, staff)
        # forked before the hashing threads start
        chunks = (_tasks_in_children(b, tasks, GENERATORS) if parallel
                  else _tasks_inline(b, tasks))
        hasher = threading.Thread(target=lambda: hashed.extend(_hash_staff(staff, pepper)),
                                  daemon=True)
        hasher.start()
        for chunk in chunks:
            if chunk[0] == "customers":
                b.rows += _write(conn, _CUSTOMERS_SQL, chunk[1])
                continue
            _kind, sales_rows, line_rows, tender_rows, done = chunk
            b.rows += _write(conn, _SALES_SQL, sales_rows)
            n_lines += _write(conn, _LINES_SQL, line_rows)
            n_tenders += _write(conn, _TENDERS_SQL, tender_rows)
            if progress:
                progress(done, sales)
        b.rows += n_lines + n_tenders
        hasher.join()
        conn.executemany(
            "INSERT INTO staff(id, code, name, role, store_id, pin_hash, active, seal) "
            "VALUES (?,?,?,?,?,?,?,?)", hashed)
        b.rows += len(hashed)
        for key, value in (("demo_seed", str(seed)), ("demo_sales", str(sales)),
                           ("demo_today", today.isoformat())):
            set_meta(db, key, value)
            b.rows += 1
        for _name, sql, _kind in indexes:
            conn.execute(sql)
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("ANALYZE")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        if journal == "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    seconds = time.perf_counter() - started
    return DemoStats(
        stores=b.counts["stores"], tills=b.counts["tills"], staff=len(hashed),
        products=b.counts["products"], customers=n_customers, sales=sales,
        sale_lines=n_lines, tenders=n_tenders, rows=b.rows, seconds=seconds,
    )


def demo_pepper(key_path: Path | str) -> Pepper:
    """The demo chain's PIN pepper: the one beside the demo till's keys, made when
    missing (the demo is a chain of its own; a real till installs its chain's with
    ``pos-returns keys import-chain``)."""
    if create_pepper(pepper_path(key_path)):
        forget_cached_peppers()
    return load_pepper(key_path)


def reseal_demo_staff(db: Database, pepper: Pepper) -> int:
    """A demo cache made before the PIN pepper (or with another one): the demo staff's
    PINs hashed and their rows sealed again with ``pepper``. Demo caches only (their
    PINs are the demo's, by role); returns the rows changed."""
    rows = db.execute("SELECT id, code, name, role, store_id, active, pin_hash, seal "
                      "FROM staff").fetchall()
    changed = 0
    for sid, code, name, role, store, active, pin_hash, seal in rows:
        row = {"id": sid, "code": code, "name": name, "role": role, "store_id": store,
               "active": active,
               "pin_hash": pin_hash, "seal": seal}
        if seal_ok(row, pepper) or role not in DEMO_PINS:
            continue
        row["pin_hash"] = hash_pin(DEMO_PINS[role], pepper)
        db.execute("UPDATE staff SET pin_hash = ?, seal = ? WHERE id = ?",
                   [row["pin_hash"], seal_staff(row, pepper), sid])
        changed += 1
    return changed
