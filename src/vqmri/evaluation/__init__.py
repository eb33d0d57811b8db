"""Metrics, evaluation of runs, figures and the HTML report."""
