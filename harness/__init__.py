"""A local multi-origin sandbox: client sites, a hostile site, the CDN, docs, proxy and a fake Retell."""
