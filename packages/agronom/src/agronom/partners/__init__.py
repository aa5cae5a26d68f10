"""AgroStore: partner orders of the products a protocol recommends."""
