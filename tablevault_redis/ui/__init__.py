"""The dashboard: ``tablevault-redis ui`` serves a live page, a JSON API, a
Server-Sent Events feed and Prometheus metrics for one or more namespaces.

Everything here reads and controls Redis through :class:`VaultClient` only. The web
framework (Starlette, served by uvicorn) is an optional extra, imported only when
the dashboard or the metrics server starts: ``pip install 'tablevault-redis[ui]'``.
"""
