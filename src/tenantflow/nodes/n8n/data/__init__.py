"""Data nodes: Set, the item-list family, Compare Datasets, Date & Time, Crypto, XML, HTML, Markdown."""
