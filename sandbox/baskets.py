"""What a table orders: menu pools filtered for allergies and alcohol, baskets by occasion and persona."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sandbox.menu import MENU, MENU_BY_SKU, MenuItem
from sandbox.restaurant import SandboxLine

_PREMIUM_MAINS = ("RIBEYE-STEAK", "FILET-MIGNON", "SEARED-SCALLOPS", "MISO-COD", "LOBSTER-ROLL", "SHORT-RIB")
_BAR_SNACKS = ("WINGS-STARTER", "CALAMARI-STARTER", "TRUFFLE-FRIES", "EDAMAME", "CHICKEN-SATAY")
_LIGHT_MAINS = ("SALMON-POKE-BOWL", "SALMON-ENTREE", "CHEESEBURGER", "VEGGIE-BURGER", "HALF-CHICKEN",
                "CAULIFLOWER-STEAK", "PAD-THAI", "CASHEW-STIR-FRY")
_BRUNCH_COCKTAILS = ("COCKTAIL-MIMOSA", "COCKTAIL-BLOODY-MARY")


@dataclass(frozen=True, slots=True)
class MenuPools:
    """Menu items a given table may order (allergens filtered, alcohol only where allowed)."""

    starters: tuple[MenuItem, ...]
    mains: tuple[MenuItem, ...]
    premium_mains: tuple[MenuItem, ...]
    light_mains: tuple[MenuItem, ...]
    sides: tuple[MenuItem, ...]
    desserts: tuple[MenuItem, ...]
    brunch: tuple[MenuItem, ...]
    kids_meals: tuple[MenuItem, ...]
    kids_drinks: tuple[MenuItem, ...]
    kids_desserts: tuple[MenuItem, ...]
    coffee: tuple[MenuItem, ...]
    soft: tuple[MenuItem, ...]
    mocktails: tuple[MenuItem, ...]
    wine_glasses: tuple[MenuItem, ...]
    wine_bottles: tuple[MenuItem, ...]
    beer: tuple[MenuItem, ...]
    cocktails: tuple[MenuItem, ...]
    brunch_cocktails: tuple[MenuItem, ...]
    bar_snacks: tuple[MenuItem, ...]

    @property
    def alcohol_ok(self) -> bool:
        return bool(self.beer or self.wine_glasses or self.cocktails)


@lru_cache(maxsize=256)
def menu_pools(avoid: frozenset[str], alcohol_ok: bool) -> MenuPools:
    def ok(item: MenuItem) -> bool:
        return not (avoid.intersection(item.allergens)) and (alcohol_ok or not item.contains_alcohol)

    def pick(*, category: str, subcategory: str | None = None, alcohol: bool | None = None) -> tuple[MenuItem, ...]:
        return tuple(
            i
            for i in MENU
            if i.category == category
            and (subcategory is None or i.subcategory == subcategory)
            and (alcohol is None or i.contains_alcohol == alcohol)
            and ok(i)
        )

    def named(skus: Sequence[str]) -> tuple[MenuItem, ...]:
        return tuple(MENU_BY_SKU[s] for s in skus if ok(MENU_BY_SKU[s]))

    wine = tuple(i for i in MENU if i.subcategory and i.subcategory.startswith("wine") and ok(i))
    return MenuPools(
        starters=pick(category="starters"),
        mains=pick(category="mains"),
        premium_mains=named(_PREMIUM_MAINS),
        light_mains=named(_LIGHT_MAINS),
        sides=pick(category="sides"),
        desserts=pick(category="desserts"),
        brunch=pick(category="brunch"),
        kids_meals=pick(category="kids", subcategory="meal"),
        kids_drinks=pick(category="kids", subcategory="drink"),
        kids_desserts=pick(category="kids", subcategory="dessert"),
        coffee=pick(category="drinks", subcategory="coffee"),
        soft=pick(category="drinks", subcategory="soft"),
        mocktails=pick(category="drinks", subcategory="mocktail"),
        wine_glasses=tuple(i for i in wine if "(glass)" in i.name),
        wine_bottles=tuple(i for i in wine if "(bottle)" in i.name),
        beer=pick(category="drinks", subcategory="beer"),
        cocktails=tuple(i for i in pick(category="drinks", subcategory="cocktail") if i.sku not in _BRUNCH_COCKTAILS),
        brunch_cocktails=named(_BRUNCH_COCKTAILS),
        bar_snacks=named(_BAR_SNACKS),
    )


class _Basket:
    """Ordered sku → quantity (insertion order kept so output is deterministic)."""

    __slots__ = ("quantities",)

    def __init__(self) -> None:
        self.quantities: dict[str, int] = {}

    def add(self, rng: random.Random, pool: Sequence[MenuItem], quantity: int = 1) -> None:
        if pool:
            # Indexing by random() instead of rng.choice: same determinism, a third of the cost.
            sku = pool[int(rng.random() * len(pool))].sku
            self.quantities[sku] = self.quantities.get(sku, 0) + quantity

    def put(self, sku: str, quantity: int = 1) -> None:
        self.quantities[sku] = self.quantities.get(sku, 0) + quantity


def _adult_drink(rng: random.Random, pools: MenuPools, basket: _Basket, *, wine_lover: bool, p_alcohol: float) -> None:
    if pools.alcohol_ok and (wine_lover or rng.random() < p_alcohol):
        roll = rng.random()
        if wine_lover or roll < 0.45:
            basket.add(rng, pools.wine_glasses, 1 if rng.random() < 0.6 else 2)
        elif roll < 0.75:
            basket.add(rng, pools.beer, 1 if rng.random() < 0.7 else 2)
        else:
            basket.add(rng, pools.cocktails)
        return
    roll = rng.random()
    if roll < 0.55:
        basket.add(rng, pools.soft)
    elif roll < 0.75:
        basket.add(rng, pools.mocktails)
    elif roll < 0.9:
        basket.add(rng, pools.coffee)


def build_basket(
    rng: random.Random,
    *,
    kind: str,
    party_size: int,
    kids: int,
    pools: MenuPools,
    signature_sku: str | None = None,
    wine_lover: bool = False,
    dessert_lover: bool = False,
    big_spender: bool = False,
) -> _Basket:
    basket = _Basket()
    adults = max(1, party_size - kids)

    if kind == "brunch":
        for _ in range(adults):
            basket.add(rng, pools.brunch if rng.random() < 0.9 else pools.light_mains)
            roll = rng.random()
            if pools.brunch_cocktails and roll < 0.45:
                basket.add(rng, pools.brunch_cocktails, 1 if rng.random() < 0.7 else 2)
            elif roll < 0.8:
                basket.add(rng, pools.coffee)
            else:
                basket.add(rng, pools.soft)
    elif kind == "bar":
        for _ in range(1 + party_size // 2):
            if rng.random() < 0.75:
                basket.add(rng, pools.bar_snacks)
        for _ in range(adults):
            if rng.random() < 0.3:
                basket.add(rng, pools.light_mains)
            drinks = rng.choice((1, 2, 2, 3))
            for _ in range(drinks):
                if pools.alcohol_ok:
                    basket.add(rng, pools.cocktails if rng.random() < 0.55 else pools.beer)
                else:
                    basket.add(rng, pools.mocktails)
    elif kind == "business_lunch":
        if rng.random() < 0.3:
            basket.add(rng, pools.starters)
        for i in range(adults):
            if i == 0 and signature_sku and rng.random() < 0.85:
                basket.put(signature_sku)
            else:
                basket.add(rng, pools.light_mains if rng.random() < 0.7 else pools.mains)
            _adult_drink(rng, pools, basket, wine_lover=wine_lover and rng.random() < 0.4, p_alcohol=0.12)
            if rng.random() < 0.4:
                basket.add(rng, pools.coffee)
    else:  # dinner, lunch, family
        starters = sum(1 for _ in range(max(1, party_size // 2)) if rng.random() < (0.7 if big_spender else 0.45))
        for _ in range(starters):
            basket.add(rng, pools.starters)
        for i in range(adults):
            if i == 0 and signature_sku and rng.random() < 0.85:
                basket.put(signature_sku)
            elif big_spender and rng.random() < 0.7:
                basket.add(rng, pools.premium_mains)
            elif rng.random() < 0.95:
                basket.add(rng, pools.light_mains if kind == "lunch" and rng.random() < 0.6 else pools.mains)
        if rng.random() < (0.45 if big_spender else 0.25):
            basket.add(rng, pools.sides)
        bottle = (wine_lover or big_spender) and adults >= 2 and bool(pools.wine_bottles) and rng.random() < 0.55
        if bottle:
            champagne = big_spender and rng.random() < 0.25
            champagne_pool = [i for i in pools.wine_bottles if i.sku == "WINE-CHAMPAGNE-BOTTLE"]
            basket.add(rng, champagne_pool if champagne and champagne_pool else pools.wine_bottles)
            if adults >= 4:
                basket.add(rng, pools.wine_bottles)
        else:
            p_alcohol = 0.55 if kind == "dinner" else 0.25
            for _ in range(adults):
                _adult_drink(rng, pools, basket, wine_lover=wine_lover, p_alcohol=p_alcohol)
        for _ in range(kids):
            basket.add(rng, pools.kids_meals)
            if rng.random() < 0.85:
                basket.add(rng, pools.kids_drinks)
            if rng.random() < 0.4:
                basket.add(rng, pools.kids_desserts)
        if dessert_lover:
            basket.add(rng, pools.desserts)
            if party_size >= 2 and rng.random() < 0.5:
                basket.add(rng, pools.desserts)
            if rng.random() < 0.6:
                basket.add(rng, pools.coffee)
        elif rng.random() < (0.4 if big_spender else 0.25):
            basket.add(rng, pools.desserts)
            if rng.random() < 0.3:
                basket.add(rng, pools.coffee)

    if not basket.quantities:  # someone always orders something (e.g. every option hit an allergy)
        basket.add(rng, pools.soft or pools.coffee)
    return basket


def party_for(rng: random.Random, persona: str) -> tuple[int, int]:
    """(party size, kids among them) by persona."""
    if persona == "family":
        size = rng.choice((3, 4, 4, 4, 5, 5))
        return size, rng.randint(1, min(3, size - 1))
    if persona in {"regular", "dessert_lover"}:
        return rng.choices((1, 2, 3, 4), cum_weights=(0.4, 0.85, 0.93, 1.0))[0], 0
    if persona == "wine_lover":
        return rng.choices((2, 3, 4), cum_weights=(0.7, 0.85, 1.0))[0], 0
    if persona in {"brunch_crowd", "business_lunch", "lapsed_vip"}:
        return rng.choice((2, 2, 3, 4)), 0
    if persona == "late_night_bar":
        return rng.choice((1, 2, 2, 3)), 0
    return rng.choices((1, 2, 3, 4, 5, 6), cum_weights=(0.25, 0.65, 0.8, 0.92, 0.97, 1.0))[0], 0


def lines_from(basket: _Basket) -> tuple[tuple[SandboxLine, ...], int]:
    lines: list[SandboxLine] = []
    total = 0
    for sku, qty in basket.quantities.items():
        item = MENU_BY_SKU[sku]
        lines.append(SandboxLine(sku, item.name, qty, item.price_cents))
        total += qty * item.price_cents
    return tuple(lines), total
