"""The Transform stage (001_…): after a page is loaded, its media files are downloaded before
their CDN links expire and sent with captions and comments to the analysis service; results
come back by polling (:mod:`smcore.transform.media`, :mod:`smcore.transform.analysis`)."""
