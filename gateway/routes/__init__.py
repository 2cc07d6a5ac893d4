"""HTTP routes, one file per area: auth, trading, account, public."""
