"""Ground floor: settings, shared schemas and POS event shapes. Imports nothing else of the product."""
