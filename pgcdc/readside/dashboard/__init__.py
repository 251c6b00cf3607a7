"""``pgcdc dashboard``: a Streamlit page over the warehouse, read-only, refreshing on its own.

``figures.py`` runs the panel queries (``sql/``), ``reader.py`` opens the warehouse read-only
for the length of one refresh, ``worldmap.py`` draws the offline map, ``health.py`` reads the
slot, ``app.py`` is the page and ``server.py`` starts it.
"""
