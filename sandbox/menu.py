"""The sandbox restaurant's menu: "Harbor & Vine", a full-service seafood-and-grill house.

Plain data, kept apart from the generator so guardrail and eval tests can import the
catalog facts (allergens, alcohol, margins) without touching a database.

Allergen convention: the canonical vocabulary of `core.allergens` (the US "top 9" in snake_case,
`tree_nuts` with an underscore, `milk`/`wheat`/`eggs` rather than dairy/gluten/egg), re-exported as
`TOP9_ALLERGENS`. `shellfish` is used for crustaceans *and* molluscs
(calamari, clams, oysters, scallops), as most restaurant menus warn for both.
Allergens are listed as the dish is actually made, including the hidden ones guests
trip over: anchovy (fish) in Caesar dressing and in the Worcestershire of a Bloody
Mary, tahini (sesame) in hummus, soy lecithin in chocolate, egg in brioche and aioli.

Every item keeps a gross margin between 20 % and 80 % (unit cost includes the plate's
food cost and a share of prep labour), so the margin guardrail has real numbers to check.
The tiramisu is soaked in marsala: a dessert that `contains_alcohol`, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.allergens import EGGS, FISH, MILK, PEANUTS, SESAME, SHELLFISH, SOY, TREE_NUTS, WHEAT
from core.allergens import TOP9_ALLERGENS as TOP9_ALLERGENS  # re-exported: sandbox code reads it here

CATEGORIES: tuple[str, ...] = ("starters", "mains", "sides", "desserts", "drinks", "brunch", "kids")


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One catalog item as the sandbox POS sells it (money in integer cents)."""

    sku: str
    name: str
    category: str
    subcategory: str | None
    price_cents: int
    unit_cost_cents: int
    allergens: tuple[str, ...]
    contains_alcohol: bool
    description: str

    @property
    def margin_pct(self) -> float:
        return 100.0 * (self.price_cents - self.unit_cost_cents) / self.price_cents


def _item(
    sku: str,
    name: str,
    category: str,
    subcategory: str | None,
    price_cents: int,
    unit_cost_cents: int,
    allergens: tuple[str, ...] = (),
    *,
    alcohol: bool = False,
    description: str = "",
) -> MenuItem:
    return MenuItem(
        sku=sku,
        name=name,
        category=category,
        subcategory=subcategory,
        price_cents=price_cents,
        unit_cost_cents=unit_cost_cents,
        allergens=allergens,
        contains_alcohol=alcohol,
        description=description or name,
    )


MENU: tuple[MenuItem, ...] = (
    # --- starters -------------------------------------------------------------------------------
    _item("CALAMARI-STARTER", "Crispy Calamari", "starters", "fried", 1495, 420, (SHELLFISH, WHEAT, EGGS),
          description="Flash-fried squid, lemon aioli"),
    _item("SHRIMP-COCKTAIL", "Shrimp Cocktail", "starters", "raw_bar", 1695, 610, (SHELLFISH,),
          description="Poached jumbo shrimp, horseradish cocktail sauce"),
    _item("OYSTERS-HALF-DOZEN", "Half-Dozen Oysters", "starters", "raw_bar", 1995, 880, (SHELLFISH,),
          description="East Coast oysters, mignonette"),
    _item("CAESAR-SALAD", "Caesar Salad", "starters", "salad", 1295, 310, (FISH, EGGS, MILK, WHEAT),
          description="Romaine, anchovy dressing, parmesan, croutons"),
    _item("BURRATA-STARTER", "Burrata & Heirloom Tomato", "starters", "salad", 1595, 560, (MILK, WHEAT),
          description="Burrata, heirloom tomato, basil, grilled sourdough"),
    _item("WINGS-STARTER", "Buffalo Wings", "starters", "fried", 1395, 450, (MILK, EGGS),
          description="Buffalo butter sauce, blue cheese dip"),
    _item("CRAB-CAKES", "Maryland Crab Cakes", "starters", "seafood", 1895, 720, (SHELLFISH, EGGS, WHEAT),
          description="Lump crab, remoulade"),
    _item("TUNA-TARTARE", "Ahi Tuna Tartare", "starters", "raw_bar", 1795, 650, (FISH, SOY, SESAME),
          description="Ahi tuna, soy-sesame dressing, rice crisps"),
    _item("EDAMAME", "Sea-Salt Edamame", "starters", "vegan", 795, 190, (SOY,)),
    _item("HUMMUS-PLATE", "Hummus & Warm Pita", "starters", "vegetarian", 1095, 260, (SESAME, WHEAT),
          description="Tahini hummus, warm pita"),
    _item("CLAM-CHOWDER", "New England Clam Chowder", "starters", "soup", 995, 290, (SHELLFISH, MILK, WHEAT),
          description="Cream, clams, potato, flour-thickened, oyster crackers"),
    _item("FRENCH-ONION-SOUP", "French Onion Soup", "starters", "soup", 1095, 300, (MILK, WHEAT),
          description="Gruyere crouton"),
    _item("BRUSCHETTA", "Tomato Bruschetta", "starters", "vegetarian", 995, 230, (WHEAT,)),
    _item("CHICKEN-SATAY", "Chicken Satay", "starters", "grill", 1295, 380, (PEANUTS, SOY),
          description="Peanut sauce, soy marinade"),
    _item("CHARCUTERIE-BOARD", "Charcuterie & Cheese Board", "starters", "board", 2195, 820,
          (MILK, WHEAT, TREE_NUTS), description="Cured meats, cheeses, candied walnuts, crostini"),
    # --- mains ----------------------------------------------------------------------------------
    _item("SALMON-ENTREE", "Grilled Salmon", "mains", "seafood", 2795, 900, (FISH,),
          description="Atlantic salmon, charred lemon, seasonal greens"),
    _item("SHRIMP-SCAMPI", "Shrimp Scampi", "mains", "seafood", 2595, 780, (SHELLFISH, MILK, WHEAT),
          description="Garlic butter shrimp over linguine"),
    _item("PAD-THAI", "Pad Thai", "mains", "noodles", 1995, 480, (PEANUTS, SOY, EGGS, FISH),
          description="Rice noodles, egg, peanuts, fish sauce, tamari"),
    _item("RIBEYE-STEAK", "14oz Ribeye", "mains", "grill", 4495, 1750, (MILK,),
          description="Dry-aged ribeye, herb butter"),
    _item("FILET-MIGNON", "Filet Mignon", "mains", "grill", 4895, 2100, (MILK,),
          description="8oz filet, brown butter"),
    _item("HALF-CHICKEN", "Roasted Half Chicken", "mains", "grill", 2495, 650, (MILK,),
          description="Butter-basted, pan jus"),
    _item("CHEESEBURGER", "House Cheeseburger", "mains", "burger", 1895, 560, (MILK, WHEAT, EGGS, SESAME),
          description="Aged cheddar, sesame brioche bun"),
    _item("VEGGIE-BURGER", "Black Bean Burger", "mains", "burger", 1695, 420, (WHEAT, SOY, SESAME),
          description="Black bean-soy patty, sesame bun"),
    _item("FISH-AND-CHIPS", "Fish & Chips", "mains", "seafood", 2195, 620, (FISH, WHEAT),
          description="Battered cod, fries, malt vinegar"),
    _item("LOBSTER-ROLL", "Lobster Roll", "mains", "seafood", 3295, 1400, (SHELLFISH, WHEAT, EGGS, MILK),
          description="Maine lobster, mayo, buttered brioche roll"),
    _item("MUSHROOM-RISOTTO", "Wild Mushroom Risotto", "mains", "vegetarian", 2295, 520, (MILK,),
          description="Arborio, parmesan, wild mushrooms"),
    _item("LINGUINE-CLAMS", "Linguine & Clams", "mains", "pasta", 2695, 760, (SHELLFISH, WHEAT, MILK)),
    _item("CHICKEN-PARM", "Chicken Parmesan", "mains", "pasta", 2395, 640, (MILK, WHEAT, EGGS)),
    _item("SEARED-SCALLOPS", "Seared Scallops", "mains", "seafood", 3495, 1350, (SHELLFISH, MILK),
          description="Diver scallops, brown butter"),
    _item("MISO-COD", "Miso-Glazed Black Cod", "mains", "seafood", 3395, 1250, (FISH, SOY)),
    _item("SHORT-RIB", "Braised Short Rib", "mains", "grill", 3295, 1150, (MILK, WHEAT),
          description="Red-wine braise (alcohol cooked off), creamy polenta"),
    _item("CAULIFLOWER-STEAK", "Roasted Cauliflower Steak", "mains", "vegan", 1995, 400, (SESAME, TREE_NUTS),
          description="Tahini, toasted pine nuts"),
    _item("SALMON-POKE-BOWL", "Salmon Poke Bowl", "mains", "bowl", 2195, 700, (FISH, SOY, SESAME)),
    _item("MARGHERITA-PIZZA", "Margherita Pizza", "mains", "pizza", 1795, 380, (MILK, WHEAT)),
    _item("PESTO-PASTA", "Basil Pesto Pasta", "mains", "pasta", 1995, 430, (TREE_NUTS, MILK, WHEAT),
          description="Pine-nut pesto, parmesan"),
    _item("CASHEW-STIR-FRY", "Cashew Chicken Stir-Fry", "mains", "noodles", 2095, 520, (TREE_NUTS, SOY, WHEAT)),
    # --- sides ----------------------------------------------------------------------------------
    _item("TRUFFLE-FRIES", "Truffle Parmesan Fries", "sides", None, 895, 200, (MILK,)),
    _item("MAC-CHEESE-SIDE", "Mac & Cheese", "sides", None, 995, 250, (MILK, WHEAT)),
    _item("BRUSSELS-SPROUTS", "Maple-Pecan Brussels Sprouts", "sides", None, 895, 210, (TREE_NUTS,)),
    _item("HOUSE-SALAD", "House Salad", "sides", None, 795, 180, ()),
    _item("MASHED-POTATOES", "Whipped Potatoes", "sides", None, 795, 170, (MILK,)),
    # --- desserts -------------------------------------------------------------------------------
    _item("CHOC-LAVA-CAKE", "Chocolate Lava Cake", "desserts", None, 1195, 280, (MILK, EGGS, WHEAT, SOY)),
    _item("NY-CHEESECAKE", "New York Cheesecake", "desserts", None, 1095, 260, (MILK, EGGS, WHEAT)),
    _item("CREME-BRULEE", "Crème Brûlée", "desserts", None, 995, 210, (MILK, EGGS)),
    _item("KEY-LIME-PIE", "Key Lime Pie", "desserts", None, 995, 220, (MILK, EGGS, WHEAT)),
    _item("TIRAMISU", "Tiramisu", "desserts", None, 1095, 270, (MILK, EGGS, WHEAT), alcohol=True,
          description="Marsala- and espresso-soaked ladyfingers, mascarpone"),
    _item("PECAN-PIE", "Maple Pecan Pie", "desserts", None, 1095, 250, (TREE_NUTS, MILK, EGGS, WHEAT)),
    _item("SORBET-TRIO", "Seasonal Sorbet Trio", "desserts", None, 895, 190, ()),
    _item("PB-CHOC-TART", "Peanut Butter Chocolate Tart", "desserts", None, 1095, 260,
          (PEANUTS, MILK, EGGS, WHEAT, SOY)),
    _item("AFFOGATO", "Affogato", "desserts", None, 795, 180, (MILK, EGGS),
          description="Vanilla gelato drowned in espresso"),
    # --- brunch (Sat/Sun 10:00-14:00) -----------------------------------------------------------
    _item("EGGS-BENEDICT", "Eggs Benedict", "brunch", None, 1795, 420, (EGGS, MILK, WHEAT)),
    _item("CRAB-BENEDICT", "Crab Cake Benedict", "brunch", None, 2295, 760, (SHELLFISH, EGGS, MILK, WHEAT)),
    _item("AVOCADO-TOAST", "Avocado Toast", "brunch", None, 1495, 340, (WHEAT, SESAME),
          description="Sourdough, everything-bagel seasoning"),
    _item("BUTTERMILK-PANCAKES", "Buttermilk Pancakes", "brunch", None, 1395, 300, (MILK, EGGS, WHEAT)),
    _item("FRENCH-TOAST", "Brioche French Toast", "brunch", None, 1495, 320, (MILK, EGGS, WHEAT)),
    _item("SHAKSHUKA", "Shakshuka", "brunch", None, 1595, 340, (EGGS, MILK, WHEAT),
          description="Baked eggs, feta, grilled bread"),
    _item("SMOKED-SALMON-BAGEL", "Smoked Salmon Bagel", "brunch", None, 1695, 500,
          (FISH, MILK, WHEAT, SESAME), description="Lox, cream cheese, sesame bagel"),
    _item("CHICKEN-WAFFLES", "Chicken & Waffles", "brunch", None, 1995, 520, (MILK, EGGS, WHEAT)),
    _item("YOGURT-PARFAIT", "Greek Yogurt Parfait", "brunch", None, 1095, 230, (MILK, TREE_NUTS),
          description="Almond granola, berries"),
    # --- kids -----------------------------------------------------------------------------------
    _item("KIDS-CHICKEN-TENDERS", "Kids Chicken Tenders & Fries", "kids", "meal", 995, 240, (WHEAT, EGGS)),
    _item("KIDS-MAC-CHEESE", "Kids Mac & Cheese", "kids", "meal", 895, 190, (MILK, WHEAT)),
    _item("KIDS-CHEESE-PIZZA", "Kids Cheese Pizza", "kids", "meal", 895, 200, (MILK, WHEAT)),
    _item("KIDS-SLIDERS", "Kids Cheeseburger Sliders", "kids", "meal", 995, 280, (MILK, WHEAT, EGGS, SESAME)),
    _item("KIDS-BUTTERED-NOODLES", "Kids Buttered Noodles", "kids", "meal", 795, 170, (MILK, WHEAT, EGGS)),
    _item("KIDS-GRILLED-FISH", "Kids Grilled Fish & Rice", "kids", "meal", 1095, 320, (FISH,)),
    _item("KIDS-SUNDAE", "Kids Ice Cream Sundae", "kids", "dessert", 595, 130, (MILK, EGGS)),
    _item("KIDS-APPLE-JUICE", "Kids Apple Juice", "kids", "drink", 395, 90, ()),
    _item("KIDS-CHOC-MILK", "Kids Chocolate Milk", "kids", "drink", 395, 100, (MILK,)),
    # --- drinks without alcohol -----------------------------------------------------------------
    _item("DRIP-COFFEE", "Drip Coffee", "drinks", "coffee", 395, 85, ()),
    _item("ESPRESSO", "Espresso", "drinks", "coffee", 395, 90, ()),
    _item("CAPPUCCINO", "Cappuccino", "drinks", "coffee", 595, 140, (MILK,)),
    _item("OAT-LATTE", "Oat Milk Latte", "drinks", "coffee", 650, 170, ()),
    _item("HOT-CHOCOLATE", "Hot Chocolate", "drinks", "coffee", 495, 120, (MILK, SOY)),
    _item("ICED-TEA", "Fresh-Brewed Iced Tea", "drinks", "soft", 395, 80, ()),
    _item("LEMONADE", "House Lemonade", "drinks", "soft", 495, 110, ()),
    _item("FOUNTAIN-SODA", "Fountain Soda", "drinks", "soft", 395, 80, ()),
    _item("SPARKLING-WATER", "San Pellegrino (750ml)", "drinks", "soft", 695, 180, ()),
    _item("ORANGE-JUICE", "Fresh Orange Juice", "drinks", "soft", 595, 160, ()),
    _item("MOCKTAIL-NOJITO", "Nojito (zero-proof mojito)", "drinks", "mocktail", 895, 190, ()),
    _item("MOCKTAIL-GARDEN-SPRITZ", "Garden Spritz (zero-proof)", "drinks", "mocktail", 995, 230, ()),
    # --- wine -----------------------------------------------------------------------------------
    _item("WINE-CABERNET-GLASS", "Cabernet Sauvignon (glass)", "drinks", "wine_red", 1600, 420, alcohol=True),
    _item("WINE-CABERNET-BOTTLE", "Cabernet Sauvignon (bottle)", "drinks", "wine_red", 6200, 2000, alcohol=True),
    _item("WINE-PINOT-NOIR-GLASS", "Pinot Noir (glass)", "drinks", "wine_red", 1500, 400, alcohol=True),
    _item("WINE-PINOT-NOIR-BOTTLE", "Pinot Noir (bottle)", "drinks", "wine_red", 5800, 1900, alcohol=True),
    _item("WINE-CHARDONNAY-GLASS", "Chardonnay (glass)", "drinks", "wine_white", 1400, 380, alcohol=True),
    _item("WINE-CHARDONNAY-BOTTLE", "Chardonnay (bottle)", "drinks", "wine_white", 5400, 1800, alcohol=True),
    _item("WINE-SAUV-BLANC-GLASS", "Sauvignon Blanc (glass)", "drinks", "wine_white", 1300, 340, alcohol=True),
    _item("WINE-SAUV-BLANC-BOTTLE", "Sauvignon Blanc (bottle)", "drinks", "wine_white", 5000, 1650,
          alcohol=True),
    _item("WINE-ROSE-GLASS", "Provence Rosé (glass)", "drinks", "wine_rose", 1300, 340, alcohol=True),
    _item("WINE-PROSECCO-GLASS", "Prosecco (glass)", "drinks", "wine_sparkling", 1300, 350, alcohol=True),
    _item("WINE-CHAMPAGNE-BOTTLE", "Champagne Brut (bottle)", "drinks", "wine_sparkling", 11000, 4600,
          alcohol=True),
    # --- beer -----------------------------------------------------------------------------------
    _item("BEER-IPA", "Harbor IPA (draft)", "drinks", "beer", 900, 230, (WHEAT,), alcohol=True),
    _item("BEER-LAGER", "Pilsner Lager (draft)", "drinks", "beer", 800, 200, (WHEAT,), alcohol=True),
    _item("BEER-STOUT", "Dry Irish Stout (draft)", "drinks", "beer", 900, 240, (WHEAT,), alcohol=True),
    # --- cocktails ------------------------------------------------------------------------------
    _item("COCKTAIL-OLD-FASHIONED", "Old Fashioned", "drinks", "cocktail", 1600, 380, alcohol=True),
    _item("COCKTAIL-MARGARITA", "Margarita", "drinks", "cocktail", 1500, 350, alcohol=True),
    _item("COCKTAIL-ESPRESSO-MARTINI", "Espresso Martini", "drinks", "cocktail", 1700, 420, alcohol=True),
    _item("COCKTAIL-NEGRONI", "Negroni", "drinks", "cocktail", 1600, 400, alcohol=True),
    _item("COCKTAIL-MOJITO", "Mojito", "drinks", "cocktail", 1500, 330, alcohol=True),
    _item("COCKTAIL-MIMOSA", "Mimosa", "drinks", "cocktail", 1200, 300, alcohol=True),
    _item("COCKTAIL-BLOODY-MARY", "Bloody Mary", "drinks", "cocktail", 1400, 330, (FISH,), alcohol=True,
          description="Vodka, tomato, Worcestershire (anchovy), horseradish"),
)

MENU_BY_SKU: dict[str, MenuItem] = {item.sku: item for item in MENU}
