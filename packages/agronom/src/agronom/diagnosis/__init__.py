"""Diagnosis of a plant photo: image checks, the vision model, treatment protocols."""
