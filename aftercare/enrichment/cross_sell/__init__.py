"""Cross-sell: what an email offers beside the order (issue 11).

``associations`` learns which products are bought together from the order history;
``recommendations`` picks the email's cards from it, against the catalogue's stock now.
"""
