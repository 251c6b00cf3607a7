"""pgcdc: change data capture from PostgreSQL into a star-schema warehouse.

One import namespace for every package: the stages (``schemas``, ``storage``,
``cdc_reader``, ``transformer``, ``warehouse_loader``), the read side (``readside``), the
demo and local-cluster tooling (``devtools``) and the wiring on top (``pipeline``).
docs/architecture.md draws how they fit.
"""
