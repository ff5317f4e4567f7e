"""Plots of the fallkd course: matplotlib Figures that need no display (see `data_plots`)."""
