"""Model registry: upstream URL + sha256 per model, a models directory, install and download."""
