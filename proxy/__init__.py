"""The token proxy: mints Retell web-call access tokens for registered client origins."""
