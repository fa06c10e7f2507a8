"""Reference targets implementing ../shared/CONTRACTS.md, each with buggy variants."""
