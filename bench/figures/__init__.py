"""One module per group of figures; each `measure*` returns finished Figures."""
