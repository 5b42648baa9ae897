"""Customer identity helpers that need no NLP model: the pseudonym a model sees instead of the guest.

A model only ever sees the pseudonym; the sending tool alone turns approved copy back into a
personal message, at send time (tools.marketing.reidentify).
"""

from __future__ import annotations

from db.pseudonyms import make_pseudonym

# The pseudonym scheme lives in db.pseudonyms (the seed and live ingest mint them); re-exported here.
pseudonym_for = make_pseudonym
