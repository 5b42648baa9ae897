"""The sandbox restaurant, "Harbor & Vine": menu, simulated guests and history, replay traffic.

Development and demo only: nothing in the product imports this package except the CLI.

Why it exists: the agent, the guardrails, the profile features and the evals all need a restaurant
whose history has *real* behaviour in it (a guest who orders grilled salmon every ~3 weeks, a weekend
brunch crowd, lapsed VIPs, minors who must never see alcohol), and whose ground truth is known. So the
generator is

* deterministic: every random draw comes from a `random.Random` seeded from (seed, customer index),
  never from the clock; the history ends at a fixed `end` date. Customer *i* is the same person
  whatever the total number of customers.
* persona-driven: each customer gets a primary persona (plus optional traits) that drives visit
  rhythm, weekday, day-part in the location's local time, party size and basket. Personas are ground
  truth for evals and are NOT stored in the database.
* fast enough for benchmarks: the writer streams customers in chunks and writes with Core
  executemany (no ORM objects), so 100k customers stay in bounded memory.

Modules, one job each (public names in brackets):

- `menu`: the menu and its allergens (`MENU`, `MENU_BY_SKU`, `TOP9_ALLERGENS`).
- `restaurant`: the merchant, its locations, the plain records, calendar helpers (`MERCHANT_ID`,
  `DEFAULT_END`, `SANDBOX_LOCATIONS`, `SandboxCustomer`, `SandboxTransaction`, `SandboxData`).
- `personas`: who a guest is, the evals' ground truth (`PERSONAS`, `sandbox_customer_personas`).
- `visits`: when and where a guest comes in.
- `baskets`: what a table orders.
- `contacts`: contact PII and staff notes.
- `history`: a guest's whole history; the restaurant in memory (`generate_sandbox`).
- `writer`: bulk rows into the database.
- `seed`: `loyalty-agent seed` (`seed_database`, `SeedResult`).
- `replay`: live `sale.completed` events for `loyalty-agent replay` (`sample_sales`).
"""
