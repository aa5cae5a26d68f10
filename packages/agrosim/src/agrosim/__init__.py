"""Real HTTP servers standing in for the third parties Pocket Agronomist calls (T-Bank,
the vision model), and sample plant photos: for development, tests and the demo. Not part of
the production image: each double speaks its third party's wire format and imports nothing
of agronom."""
