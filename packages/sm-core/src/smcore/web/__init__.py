"""SM Core's web dashboard, served by ``sm-core api`` at ``/`` (see :mod:`smcore.web.pages`)."""
