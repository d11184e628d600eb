"""Statistics on stored results: metrics, paired effects, event statistics, tables."""
