"""socialsim."""
