"""Tests of the country-office dashboard."""
