"""TextProcessor: title, description and comments."""
