"""Benchmarks of jupyter_creds against jupyter_server's floor: ``python -m jupyter_creds.bench``.

Every figure is a median over repeated runs, next to a baseline measured in the same run on the
same machine (usually the same server), so the ratios travel between machines where the absolute
numbers don't. The servers are real ``jupyter server`` processes in temporary directories, signed
in through the embedded OpenID Connect provider's pages over HTTP, as a person would.

Modules: ``servers`` (server processes), ``world`` (provider, integrations, token store, sign-in,
the kernel's secret), ``timing`` (measuring helpers), ``latency`` (figures 1-4), ``footprint``
(figures 5-7), ``report`` (the table and the JSON).
"""
