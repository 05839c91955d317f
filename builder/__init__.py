"""The static-site builder: CDN tree, client demo pages and docs from ``site_src/`` and ``widget/``."""
